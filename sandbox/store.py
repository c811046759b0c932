"""The sandbox's state: one SQLite database, generic over resource types.

Tables:

* ``accounts``: ``key_hash`` (SHA-256 of an API key, never the key) -> ``account_id``.
  Each API key is its own account.
* ``resources``: every stored resource, whatever its type: ``(account_id, type, id)``
  with ``attributes`` and ``relationships`` as JSON text and ``created`` / ``updated`` as
  ISO-8601 text. ``seq`` (insertion order) is the default, stable listing order. The
  account itself is a ``resources`` row of type ``account`` whose account_id is its id.
* ``links``: to-many relationships (list membership, tags, ...):
  ``(account_id, type, id, name, target_type, target_id)``, queryable both ways.

One connection guarded by a re-entrant lock serves every thread (werkzeug's threaded
server starts a thread per request, so per-thread connections would mean one connection
per request). File databases use WAL and a busy timeout, so two processes (two CLI runs)
can share a file. ``":memory:"`` gives an ephemeral database.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    key_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS resources (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL,
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    attributes TEXT NOT NULL,
    relationships TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    UNIQUE (account_id, type, id)
);
CREATE INDEX IF NOT EXISTS resources_by_type ON resources (account_id, type, seq);
CREATE TABLE IF NOT EXISTS links (
    account_id TEXT NOT NULL,
    type TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (account_id, type, id, name, target_type, target_id)
);
CREATE INDEX IF NOT EXISTS links_reverse ON links (account_id, target_type, target_id, name);
"""


def hash_key(api_key: str) -> str:
    """SHA-256 hex digest of an API key: the only form in which a key is stored."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


class StoreConflict(Exception):
    """A resource with that (account, type, id) already exists."""


@dataclass
class Resource:
    """One stored resource. ``attributes`` and ``relationships`` are plain JSON dicts."""

    account_id: str
    type: str
    id: str
    attributes: dict[str, Any]
    relationships: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    updated: str = ""
    seq: int = 0


_COLUMNS = "seq, account_id, type, id, attributes, relationships, created, updated"


def _row(row: tuple[Any, ...]) -> Resource:
    seq, account_id, rtype, rid, attributes, relationships, created, updated = row
    return Resource(
        account_id=account_id,
        type=rtype,
        id=rid,
        attributes=json.loads(attributes),
        relationships=json.loads(relationships),
        created=created,
        updated=updated,
        seq=seq,
    )


_NOT_NULL = frozenset({"r.seq", "r.id", "r.created", "r.updated", "l.rowid", "l.created"})


def _nullable(sql: str) -> bool:
    """Whether an order expression can be NULL (columns declared NOT NULL and ``coalesce(..., column)`` can't)."""
    return sql not in _NOT_NULL and not (
        sql.startswith("coalesce(") and sql.endswith((", r.created)", ", r.updated)"))
    )


def _after(keys: Sequence[tuple[str, bool]], values: Sequence[Any]) -> tuple[str, list[Any]]:
    """SQL for "the row comes after ``values``" in the order ``keys`` (lexicographic).

    NULL sorts first ascending and last descending, as SQLite orders them.
    """
    if not keys:
        return "0", []
    (sql, desc), *rest = keys
    value, *others = values
    if value is None:
        later, later_params = ("0" if desc else f"{sql} IS NOT NULL"), []
        same, same_params = f"{sql} IS NULL", []
    else:
        # "OR x IS NULL" would keep SQLite from walking an index range: say it only when x can be NULL.
        later = (
            f"({sql} < ? OR {sql} IS NULL)" if desc and _nullable(sql) else f"{sql} {'<' if desc else '>'} ?"
        )
        later_params = [value]
        same, same_params = f"{sql} = ?", [value]
    if not rest:
        return later, later_params
    tail, tail_params = _after(rest, others)
    return f"{later} OR ({same} AND ({tail}))", [*later_params, *same_params, *tail_params]


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Store:
    """SQLite-backed state for the sandbox; thread-safe.

    ``path`` is a file path (created with its parent folder if missing) or ``":memory:"``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        self._depth = 0
        self._indexed: set[tuple[str, str]] = set()
        # API key hash -> account id, so a request does not pay a query (and, under threads, a
        # GIL hand-off) to learn what never changes (a reset keeps accounts).
        self._accounts: dict[str, str] = {}
        if self.path != ":memory:":
            parent = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(parent, exist_ok=True)
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10.0)
        with self._lock:
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=NORMAL")
                # Read big states through the OS page cache: memory-mapped, not copied page by page.
                self._conn.execute("PRAGMA mmap_size=1073741824")
            self._conn.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages, not SQLite's 2 MiB
            self._conn.execute("PRAGMA busy_timeout=10000")
            self._conn.executescript(_SCHEMA)
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self) -> None:
        """Empty every account: every resource and link goes; each API key keeps its account
        (its id and its ``account`` resource), so a server running on the same file in another
        process, which remembers the keys it has seen, goes on serving the same, now empty,
        accounts."""
        with self.transaction():
            self._conn.execute("DELETE FROM resources WHERE type != 'account'")
            self._conn.execute("DELETE FROM links")

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """Hold the store for a read-check-write sequence (re-entrant; the outermost commits).

        Use it around "look for a duplicate, then insert" so two threads can't both pass
        the check.
        """
        with self._lock:
            outermost = self._depth == 0
            if outermost:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if outermost:
                    self._conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outermost:
                self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    def _execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).rowcount

    def ensure_index(self, rtype: str, attribute: str) -> None:
        """Index ``attributes.<attribute>`` so :meth:`find` on it doesn't scan (e.g. profile email)."""
        if (rtype, attribute) in self._indexed:
            return
        if not attribute.replace("_", "").isalnum() or not rtype.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"unsafe index name: {rtype}.{attribute}")
        name = f"attr_{rtype.replace('-', '_')}_{attribute}"
        with self._lock:
            self._conn.execute(
                f"CREATE INDEX IF NOT EXISTS {name} ON resources "
                f"(account_id, type, json_extract(attributes, '$.{attribute}'))"
            )
        self._indexed.add((rtype, attribute))

    # -- accounts ----------------------------------------------------------------------

    def account_for_key(
        self, api_key: str, create: Callable[[], tuple[str, dict[str, Any]]] | None, now: str
    ) -> str | None:
        """The account id for an API key; with ``create``, make the account on first use.

        ``create()`` returns ``(account_id, attributes)`` of the new account resource. Only
        the key's SHA-256 is stored.
        """
        key_hash = hash_key(api_key)
        known = self._accounts.get(key_hash)
        if known is not None:  # a key's account never changes
            return known
        rows = self._query("SELECT account_id FROM accounts WHERE key_hash = ?", (key_hash,))
        if rows:
            self._accounts[key_hash] = str(rows[0][0])
            return str(rows[0][0])
        if create is None:
            return None
        with self.transaction():
            rows = self._query("SELECT account_id FROM accounts WHERE key_hash = ?", (key_hash,))
            if rows:
                return str(rows[0][0])
            for _ in range(20):
                account_id, attributes = create()
                if not self._query("SELECT 1 FROM accounts WHERE account_id = ?", (account_id,)):
                    break
            else:  # pragma: no cover - 62**6 ids
                raise RuntimeError("could not find a free account id")
            self._execute(
                "INSERT INTO accounts (key_hash, account_id, created) VALUES (?, ?, ?)",
                (key_hash, account_id, now),
            )
            self.create(account_id, "account", account_id, attributes, now=now)
            return account_id

    def account_ids(self) -> list[str]:
        return [str(r[0]) for r in self._query("SELECT account_id FROM accounts ORDER BY created")]

    # -- resources ---------------------------------------------------------------------

    def get(self, account_id: str, rtype: str, rid: str) -> Resource | None:
        rows = self._query(
            f"SELECT {_COLUMNS} FROM resources WHERE account_id = ? AND type = ? AND id = ?",
            (account_id, rtype, rid),
        )
        return _row(rows[0]) if rows else None

    def list_resources(self, account_id: str, rtype: str) -> list[Resource]:
        """Every resource of a type in insertion order (filter, sort and page in Python)."""
        rows = self._query(
            f"SELECT {_COLUMNS} FROM resources WHERE account_id = ? AND type = ? ORDER BY seq",
            (account_id, rtype),
        )
        return [_row(r) for r in rows]

    def scan(
        self,
        account_id: str,
        rtype: str,
        *,
        order: Sequence[tuple[str, bool]] = (),
        after: Sequence[Any] | None = None,
        member_of: tuple[str, str, str] | None = None,
        where: Sequence[tuple[str, Sequence[Any]]] = (),
        chunk: int = 200,
    ) -> Iterator[tuple[Resource, tuple[Any, ...]]]:
        """Stream ``rtype`` rows in a keyset order, each with its key, ``chunk`` rows a query.

        ``order`` is ``(sql, descending)`` pairs over the row ``r`` (and the link ``l`` with
        ``member_of``); ``r.seq`` ascending is always the last key, so every key is unique. A
        row's key is the tuple of those values (pass ``("r.seq", True)`` last to walk backwards); ``after`` (a key from an earlier scan in the
        same order) starts just past it. SQLite's own order is kept: NULL first ascending, last
        descending. ``member_of=(container_type, container_id, name)`` keeps the rows linked
        from that container under ``name``; ``where`` adds ``(sql, params)`` conditions. Each
        chunk is one indexed query, so a page costs the rows it reads, however deep it is.
        Expressions come from the sandbox's code, never from a request.
        """
        keys = list(order) if order and order[-1][0] == "r.seq" else [*order, ("r.seq", False)]
        columns = ", ".join(f"r.{c.strip()}" for c in _COLUMNS.split(","))
        select = f"SELECT {columns}, {', '.join(sql for sql, _ in keys)} FROM resources r"
        conditions = ["r.account_id = ?", "r.type = ?"]
        params: list[Any] = [account_id, rtype]
        if member_of is not None:
            select += (
                " JOIN links l ON l.account_id = r.account_id AND l.target_type = r.type "
                "AND l.target_id = r.id AND l.type = ? AND l.id = ? AND l.name = ?"
            )
            params = [*member_of, *params]
        for sql, values in where:
            conditions.append(f"({sql})")
            params.extend(values)
        ordering = " ORDER BY " + ", ".join(f"{sql} {'DESC' if desc else 'ASC'}" for sql, desc in keys)
        width = len(_COLUMNS.split(","))
        position = tuple(after) if after is not None else None
        while True:
            extra: list[Any] = []
            clause = ""
            if position is not None:
                sql_after, extra = _after(keys, position)
                clause = f" AND ({sql_after})"
            query = f"{select} WHERE {' AND '.join(conditions)}{clause}{ordering} LIMIT ?"
            rows = self._query(query, [*params, *extra, chunk])
            for row in rows:
                position = tuple(row[width:])
                yield _row(row[:width]), position
            if len(rows) < chunk:
                return

    def indexed(self, rtype: str) -> frozenset[str]:
        """The attributes of ``rtype`` indexed with :meth:`ensure_index` (equality look-ups on
        them can be answered from the index)."""
        return frozenset(attribute for t, attribute in self._indexed if t == rtype)

    def count(self, account_id: str, rtype: str) -> int:
        rows = self._query(
            "SELECT COUNT(*) FROM resources WHERE account_id = ? AND type = ?", (account_id, rtype)
        )
        return int(rows[0][0])

    def find(self, account_id: str, rtype: str, attribute: str, value: Any) -> list[Resource]:
        """Resources whose top-level ``attributes[attribute] == value`` (exact match)."""
        if not attribute.replace("_", "").isalnum():
            raise ValueError(f"unsafe attribute name: {attribute}")
        rows = self._query(
            f"SELECT {_COLUMNS} FROM resources WHERE account_id = ? AND type = ? "
            f"AND json_extract(attributes, '$.{attribute}') = ? ORDER BY seq",
            (account_id, rtype, value),
        )
        return [_row(r) for r in rows]

    def create(
        self,
        account_id: str,
        rtype: str,
        rid: str,
        attributes: dict[str, Any],
        relationships: dict[str, Any] | None = None,
        *,
        now: str,
    ) -> Resource:
        """Insert a resource; :class:`StoreConflict` if the id is taken."""
        relationships = relationships or {}
        with self._lock:
            try:
                cur = self._conn.execute(
                    "INSERT INTO resources (account_id, type, id, attributes, relationships, created, updated) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (account_id, rtype, rid, _dump(attributes), _dump(relationships), now, now),
                )
            except sqlite3.IntegrityError as exc:
                raise StoreConflict(f"{rtype} {rid} already exists") from exc
            seq = int(cur.lastrowid or 0)
        return Resource(account_id, rtype, rid, attributes, relationships, now, now, seq)

    def create_many(
        self, account_id: str, rtype: str, rows: Sequence[tuple[str, dict[str, Any]]], *, now: str
    ) -> list[Resource]:
        """Insert ``(id, attributes)`` rows in one statement; :class:`StoreConflict` if an id is taken."""
        with self._lock:
            try:
                self._conn.executemany(
                    "INSERT INTO resources (account_id, type, id, attributes, relationships, created, updated) "
                    "VALUES (?, ?, ?, ?, '{}', ?, ?)",
                    [(account_id, rtype, rid, _dump(attributes), now, now) for rid, attributes in rows],
                )
            except sqlite3.IntegrityError as exc:
                raise StoreConflict(f"a {rtype} id is already taken") from exc
        return [Resource(account_id, rtype, rid, attributes, {}, now, now) for rid, attributes in rows]

    def find_many(self, account_id: str, rtype: str, attribute: str, values: Sequence[Any]) -> list[Resource]:
        """Resources whose top-level ``attributes[attribute]`` is one of ``values``, oldest first
        (:meth:`find` for many values: one query per 500)."""
        found = [_row(r) for r in self._matching(_COLUMNS, account_id, rtype, attribute, values)]
        found.sort(key=lambda r: r.seq)
        return found

    def existing_values(self, account_id: str, rtype: str, attribute: str, values: Sequence[Any]) -> set[Any]:
        """Which of ``values`` some ``rtype`` resource has as ``attributes[attribute]`` (index it first)."""
        column = f"json_extract(attributes, '$.{attribute}')"
        return {r[0] for r in self._matching(column, account_id, rtype, attribute, values)}

    def _matching(
        self, columns: str, account_id: str, rtype: str, attribute: str, values: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """``columns`` of the rows whose ``attributes[attribute]`` is one of ``values``, one query
        per 500 values (SQLite's default limit is 999 parameters)."""
        if not attribute.replace("_", "").isalnum():
            raise ValueError(f"unsafe attribute name: {attribute}")
        rows: list[tuple[Any, ...]] = []
        distinct = list(dict.fromkeys(values))
        for start in range(0, len(distinct), 500):
            chunk = distinct[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            rows += self._query(
                f"SELECT {columns} FROM resources WHERE account_id = ? AND type = ? "
                # No ORDER BY: it would lead SQLite to walk every row of the type in seq order
                # instead of looking the values up in the attribute's index.
                f"AND json_extract(attributes, '$.{attribute}') IN ({marks})",
                (account_id, rtype, *chunk),
            )
        return rows

    def update(
        self,
        account_id: str,
        rtype: str,
        rid: str,
        *,
        attributes: dict[str, Any] | None = None,
        relationships: dict[str, Any] | None = None,
        now: str,
    ) -> Resource | None:
        """Replace the attributes and/or relationships given; bump ``updated``. None if missing."""
        with self.transaction():
            current = self.get(account_id, rtype, rid)
            if current is None:
                return None
            if attributes is not None:
                current.attributes = attributes
            if relationships is not None:
                current.relationships = relationships
            current.updated = now
            self._execute(
                "UPDATE resources SET attributes = ?, relationships = ?, updated = ? "
                "WHERE account_id = ? AND type = ? AND id = ?",
                (_dump(current.attributes), _dump(current.relationships), now, account_id, rtype, rid),
            )
            return current

    def delete(self, account_id: str, rtype: str, rid: str) -> bool:
        """Delete a resource and every link from or to it; False if it didn't exist."""
        with self.transaction():
            gone = self._execute(
                "DELETE FROM resources WHERE account_id = ? AND type = ? AND id = ?", (account_id, rtype, rid)
            )
            self._execute(
                "DELETE FROM links WHERE account_id = ? AND type = ? AND id = ?", (account_id, rtype, rid)
            )
            self._execute(
                "DELETE FROM links WHERE account_id = ? AND target_type = ? AND target_id = ?",
                (account_id, rtype, rid),
            )
        return gone > 0

    # -- to-many links -----------------------------------------------------------------

    def add_links(
        self,
        account_id: str,
        rtype: str,
        rid: str,
        name: str,
        target_type: str,
        target_ids: Iterable[str],
        *,
        now: str,
    ) -> int:
        """Link ``rtype/rid`` to each target under relationship ``name``; returns how many were new."""
        added = 0
        with self.transaction():
            for target_id in target_ids:
                added += self._execute(
                    "INSERT OR IGNORE INTO links (account_id, type, id, name, target_type, target_id, created) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (account_id, rtype, rid, name, target_type, target_id, now),
                )
        return added

    def remove_links(
        self, account_id: str, rtype: str, rid: str, name: str, target_type: str, target_ids: Iterable[str]
    ) -> int:
        removed = 0
        with self.transaction():
            for target_id in target_ids:
                removed += self._execute(
                    "DELETE FROM links WHERE account_id = ? AND type = ? AND id = ? AND name = ? "
                    "AND target_type = ? AND target_id = ?",
                    (account_id, rtype, rid, name, target_type, target_id),
                )
        return removed

    def linked_ids(self, account_id: str, rtype: str, rid: str, name: str) -> list[str]:
        """Targets of ``rtype/rid``'s relationship ``name``, in the order they were linked."""
        rows = self._query(
            "SELECT target_id FROM links WHERE account_id = ? AND type = ? AND id = ? AND name = ? ORDER BY rowid",
            (account_id, rtype, rid, name),
        )
        return [str(r[0]) for r in rows]

    def link_times(self, account_id: str, rtype: str, rid: str, name: str) -> dict[str, str]:
        """Like :meth:`linked_ids`, with when each link was made (list membership's ``joined_group_at``)."""
        rows = self._query(
            "SELECT target_id, created FROM links WHERE account_id = ? AND type = ? AND id = ? AND name = ? "
            "ORDER BY rowid",
            (account_id, rtype, rid, name),
        )
        return {str(r[0]): str(r[1]) for r in rows}

    def retarget_links(self, account_id: str, target_type: str, old_id: str, new_id: str) -> None:
        """Every link to ``old_id`` now points at ``new_id`` (kept once where both were linked)."""
        with self.transaction():
            self._execute(
                "INSERT OR IGNORE INTO links (account_id, type, id, name, target_type, target_id, created) "
                "SELECT account_id, type, id, name, target_type, ?, created FROM links "
                "WHERE account_id = ? AND target_type = ? AND target_id = ?",
                (new_id, account_id, target_type, old_id),
            )
            self._execute(
                "DELETE FROM links WHERE account_id = ? AND target_type = ? AND target_id = ?",
                (account_id, target_type, old_id),
            )

    def replace_attribute(self, account_id: str, rtype: str, attribute: str, old: Any, new: Any) -> int:
        """Set ``attributes[attribute]`` to ``new`` wherever it is ``old``; how many rows changed."""
        if not attribute.replace("_", "").isalnum():
            raise ValueError(f"unsafe attribute name: {attribute}")
        return self._execute(
            f"UPDATE resources SET attributes = json_set(attributes, '$.{attribute}', ?) "
            f"WHERE account_id = ? AND type = ? AND json_extract(attributes, '$.{attribute}') = ?",
            (new, account_id, rtype, old),
        )

    def link_time(self, account_id: str, rtype: str, rid: str, name: str, target_id: str) -> str | None:
        """When ``rtype/rid`` was linked to ``target_id`` under ``name``; None if it is not."""
        rows = self._query(
            "SELECT created FROM links WHERE account_id = ? AND type = ? AND id = ? AND name = ? "
            "AND target_id = ?",
            (account_id, rtype, rid, name, target_id),
        )
        return str(rows[0][0]) if rows else None

    def linking_ids(
        self, account_id: str, target_type: str, target_id: str, name: str, rtype: str
    ) -> list[str]:
        """The reverse: ids of ``rtype`` resources whose relationship ``name`` holds the target."""
        rows = self._query(
            "SELECT id FROM links WHERE account_id = ? AND target_type = ? AND target_id = ? AND name = ? "
            "AND type = ? ORDER BY rowid",
            (account_id, target_type, target_id, name, rtype),
        )
        return [str(r[0]) for r in rows]
