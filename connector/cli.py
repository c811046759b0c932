"""The ``klaviyo-connector`` command: list, describe and run a component's actions and data sources
(and triggers, where a component declares them) against Klaviyo or the built-in sandbox.

Output: a result goes to stdout (an action's result or a picklist as JSON, a listing as a table or,
with ``--json``, JSON); a failed call exits 1 with ``{"error": {...}}`` on stderr; a usage error
(a bad flag, an unknown key) exits 2 with one line on stderr. Progress, retry waits and their
countdowns are drawn on stderr only when it is a terminal.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

from .errors import REAUTH_REQUIRED, KlaviyoError
from .redact import redact
from .sandbox.server import DEFAULT_API_KEY

if TYPE_CHECKING:
    from .http import RetryWait

COMPONENT = "klaviyo"
# The sandbox gives every key its own account; --sandbox runs use its default one, the account the
# standalone server's banner names, so both see the same data.
SANDBOX_API_KEY = DEFAULT_API_KEY
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool whose reader left
PROG = "klaviyo-connector"

# How the CLI waits and tells time while it draws progress; tests replace them so nothing waits.
SLEEP: Callable[[float], None] = time.sleep
CLOCK: Callable[[], float] = time.monotonic

# Flags accepted before or after the command (``--debug run ...`` and ``run ... --debug``), with
# their defaults. Every parser declares them with argparse.SUPPRESS, so a subcommand's parser
# never overwrites a value given before it; main() fills in these defaults afterwards.
GLOBAL_DEFAULTS: dict[str, Any] = {
    "debug": False,
    "api_key": None,
    "base_url": None,
    "sandbox": False,
    "token_file": None,
}
CONNECTION_FLAGS = ("api_key", "base_url", "sandbox", "token_file")


class UsageError(Exception):
    pass


@dataclass(frozen=True)
class Kind:
    """A kind of plugin a component declares, and the commands that list, describe and run it."""

    name: str  # as `describe --kind` takes it: "action"
    command: str  # the listing command: "actions"
    attr: str  # the component's mapping (or tuple) of them: "actions"
    noun: str  # in sentences: "data source"
    run: str | None = None  # the command that runs one, if the CLI runs this kind


KINDS = (
    Kind("action", "actions", "actions", "action", "run"),
    Kind("datasource", "datasources", "data_sources", "data source", "datasource"),
    Kind("trigger", "triggers", "triggers", "trigger", "trigger poll"),
)
ACTIONS, DATA_SOURCES = KINDS[0], KINDS[1]


def _print_json(value: Any, stream: Any = None) -> None:
    stream = stream or sys.stdout
    stream.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def _inputs(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    if text.startswith("@"):
        try:
            with open(text[1:], encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise UsageError(f"--inputs: cannot read {text[1:]!r}: {exc.strerror}") from None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--inputs: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise UsageError("--inputs: must be a JSON object of input keys to values")
    return value


# -- the component's plugins ------------------------------------------------------------------


def _component() -> Any:
    from .component import component

    return component


def declares(component: Any, kind: Kind) -> bool:
    """Whether the component has this kind of plugin at all, asked without loading them."""
    cls = type(component)
    return (
        hasattr(cls, kind.attr)
        or kind.attr in getattr(cls, "__dataclass_fields__", {})
        or kind.attr in getattr(component, "__dict__", {})
    )


def kinds_of(component: Any) -> tuple[Kind, ...]:
    return tuple(kind for kind in KINDS if declares(component, kind))


def plugins(component: Any, kind: Kind) -> Mapping[str, Any]:
    """The component's plugins of one kind by key ({} when it has none of that kind)."""
    found = getattr(component, kind.attr, None) or {}
    if isinstance(found, Mapping):
        return found
    return {plugin.key: plugin for plugin in found}


def _or_list(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def _a(words: str) -> str:
    return f"{'an' if words[:1] in ('a', 'e', 'i', 'o', 'u') else 'a'} {words}"


def close_matches(key: str, candidates: Sequence[str]) -> list[str]:
    """The keys ``key`` was probably meant to be, best first: the same key in another case,
    else near spellings (difflib), then keys that contain it; at most five."""
    lowered = {c.lower(): c for c in candidates}
    wanted = key.lower()
    if wanted in lowered:
        return [lowered[wanted]]
    scored = sorted(((difflib.SequenceMatcher(None, wanted, c).ratio(), c) for c in lowered), reverse=True)
    best = scored[0][0] if scored else 0.0
    # Near spellings, and only those about as near as the nearest: "selectLst" is selectList.
    found = [lowered[c] for ratio, c in scored[:3] if ratio >= max(0.6, best - 0.1)]
    found += [c for c in candidates if wanted and wanted in c.lower() and c not in found]
    return found[:5]


def find(component: Any, key: str, kinds: Sequence[Kind], describing: bool = False) -> tuple[Kind, Any]:
    """The plugin ``key`` names among ``kinds``; a UsageError with a did-you-mean otherwise."""
    for kind in kinds:
        plugin = plugins(component, kind).get(key)
        if plugin is None and kind is ACTIONS and callable(getattr(component, "find_action", None)):
            plugin = component.find_action(key)  # a generated key, an operationId, alias or slug
        if plugin is not None:
            return kind, plugin
    what = _or_list([k.noun for k in kinds])
    for kind in kinds_of(component):  # the right key for the wrong command
        if kind not in kinds and key in plugins(component, kind):
            if describing:
                how = f"`{PROG} describe {key} --kind {kind.name}`"
            else:
                how = f"`{PROG} {kind.run} {key}`" if kind.run else f"`{PROG} describe {key}`"
            raise UsageError(f"{key!r} is {_a(kind.noun)}, not {_a(what)}: use {how}")
    suggestions = close_matches(key, [k for kind in kinds for k in plugins(component, kind)])
    hint = f"; did you mean {_or_list(suggestions)}?" if suggestions else ""
    listing = " and ".join(f"`{PROG} {k.command}`" for k in kinds)
    raise UsageError(f"no {what} {key!r}{hint} ({listing} list{'s' if len(kinds) == 1 else ''} them all)")


def describe(kind: Kind, plugin: Any) -> dict[str, Any]:
    """A plugin as JSON: its own ``describe()`` where it has one, else what every plugin has."""
    from .model import rate_limit_tiers

    if callable(getattr(plugin, "describe", None)):
        return {"kind": kind.noun, **plugin.describe()}
    doc: dict[str, Any] = {
        "kind": kind.noun,
        "key": plugin.key,
        "label": getattr(plugin, "label", ""),
        "description": getattr(plugin, "description", ""),
    }
    inputs = getattr(plugin, "inputs", None)
    if callable(getattr(inputs, "model_json_schema", None)):
        doc["inputs"] = inputs.model_json_schema()
    operations = tuple(getattr(plugin, "operations", ()))
    doc["operations"] = list(operations)
    scopes = getattr(plugin, "scopes", None)
    if scopes is None:
        from .catalog import scopes_for

        scopes = scopes_for(operations)
    doc["scopes"] = list(scopes)
    doc["rate_limits"] = rate_limit_tiers(tuple(operations))
    return doc


# -- connections and runs ---------------------------------------------------------------------


@contextmanager
def _connection(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """The connection the flags and environment describe; starts the sandbox for --sandbox."""
    if args.token_file:
        from .auth_cli import token_file_connection

        with token_file_connection(args) as conn:
            args.base_url_in_use = conn["fields"].get("baseUrl")
            yield conn
        return
    if args.sandbox:
        from .sandbox import Sandbox, SandboxOptions
        from .sandbox.server import default_state_path

        given = [
            flag for flag, value in (("--api-key", args.api_key), ("--base-url", args.base_url)) if value
        ]
        if given:
            raise UsageError(
                f"--sandbox can't be combined with {' or '.join(given)}: it supplies its own key and URL "
                f"(for a sandbox served by `{PROG} sandbox`, pass --api-key and --base-url without --sandbox)"
            )
        box = Sandbox(SandboxOptions(state_path=str(default_state_path())))
        base_url = box.start()
        args.base_url_in_use = base_url
        try:
            yield {
                "key": "apiKey",
                "fields": {"apiKey": SANDBOX_API_KEY, "baseUrl": base_url},
            }
        finally:
            box.stop()
        return
    key = args.api_key or os.environ.get("KLAVIYO_API_KEY")
    if not key:
        raise UsageError(
            "no Klaviyo credentials: pass --api-key pk_... or set KLAVIYO_API_KEY "
            "(or add --sandbox to try it against the built-in sandbox)"
        )
    fields: dict[str, Any] = {"apiKey": key}
    base_url = args.base_url or os.environ.get("KLAVIYO_BASE_URL")
    if base_url:
        fields["baseUrl"] = base_url
    args.base_url_in_use = base_url
    yield {"key": "apiKey", "fields": fields}


def _duration(seconds: float, up: bool = True) -> str:
    """``seconds`` in words, to the second (rounded up, or down) below 90 s: "52 s", "3 min"."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{math.ceil(seconds) if up else math.floor(seconds)} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def measure(info: Mapping[str, Any]) -> tuple[float | None, float | None, dict[str, Any]]:
    """(done so far, total if known, the rest) of a progress event's info, whichever of the
    shapes actions report: ``{"batch": 2, "of": 5, ...}``, ``{"sent": 200, "total": 1000, ...}``,
    ``{"completed_count": 10, "failed_count": 1, "total_count": 50, ...}`` or a bare count."""
    keys = list(info)

    def number(key: str) -> float | None:
        value = info.get(key)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    if "of" in keys and keys.index("of") > 0:
        count = keys[keys.index("of") - 1]
        rest = {k: v for k, v in info.items() if k not in (count, "of")}
        return number(count), number("of"), rest
    for total_key, parts in (("total", None), ("total_count", ("completed_count", "failed_count"))):
        if total_key in keys:
            counted = parts or tuple(k for k in keys if k != total_key and number(k) is not None)[:1]
            done = sum(number(k) or 0 for k in counted) if counted else None
            rest = {k: v for k, v in info.items() if k != total_key and k not in counted}
            return done, number(total_key), rest
    return None, None, dict(info)


def progress_words(info: Mapping[str, Any]) -> str:
    """A progress event's info as the CLI shows it: ``records: 300, batch: 2 of 5``."""
    parts: list[str] = []
    for key, value in info.items():
        if key == "of" and parts:
            parts[-1] += f" of {value}"
        else:
            parts.append(f"{key.replace('_', ' ')}: {value}")
    return ", ".join(parts)


def progress_line(event: str, info: Mapping[str, Any]) -> str:
    """A progress event in words, the event's own count as its value where it has one:
    ``pages: 3, records: 300`` (not "pages: pages 3"), else ``created — profiles created: 3``."""
    words = progress_words(info)
    first = next(iter(info), "").replace("_", " ")
    if first and first == event.replace("_", " "):
        return f"{event}: {words[len(first) + 2 :]}"
    return f"{event} — {words}" if words else event


# tqdm layouts: counts and a bar where the total is known (a countdown has its own).
COUNTED = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}{postfix}"


class RunFeedback:
    """What the CLI hands the Runner for one run: the action's progress events and the HTTP
    client's retry waits (``on_wait`` and ``sleep``, see :class:`~.http.KlaviyoClient`).

    With a ``stream`` (stderr, when it is a terminal) they are drawn with tqdm: a bar per kind
    of event, with an estimate of the time left where the total is known, and a countdown for
    each retry wait ("waiting 52 s for Klaviyo's rate limit (1/s, 2/m) — retry 2 of 3").
    Without one nothing is printed. Either way a connection that could not be made at all is
    not retried: a person hears at once that the Base URL, the network or a proxy is wrong
    instead of sitting through three reconnects.
    """

    def __init__(
        self,
        stream: Any = None,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.stream = stream
        self.clock = clock or CLOCK
        self._sleep = sleep or SLEEP
        self.started = self.clock()
        self._last_report = self.started
        self._bars: dict[str, Any] = {}
        self._began: dict[str, float] = {}
        self._pending: RetryWait | None = None

    @property
    def client_options(self) -> dict[str, Any]:
        return {"on_wait": self.on_wait, "sleep": self.sleep}

    def _bar(self, **options: Any) -> Any:
        return _bar_class()(file=self.stream, leave=False, mininterval=0, dynamic_ncols=True, **options)

    def progress(self, event: str, info: Mapping[str, Any]) -> None:
        if self.stream is None:
            return
        now = self.clock()
        # A phase (an event's bar) began when the one before it last reported, or with the run.
        began = self._began.setdefault(event, self._last_report)
        self._last_report = now
        done, total, rest = measure(info)
        if total:
            notes = [progress_words(rest), self._time_left(event, done or 0, total, now)]
            self._draw(event, event, notes, done or 0, total)
        else:
            spent = now - began
            self._draw(event, progress_line(event, info), [f"{_duration(spent, up=False)} so far"])

    def _draw(
        self,
        name: str,
        desc: str,
        notes: Sequence[str],
        done: float = 0,
        total: float | None = None,
        layout: str | None = None,
    ) -> Any:
        """Draw (create or update) the bar ``name``: a bar with counts where the total is known."""
        postfix = ", ".join(note for note in notes if note)
        if layout is None:
            layout = COUNTED if total else "{desc}{postfix}"
        bar = self._bars.get(name)
        if bar is None:
            bar = self._bars[name] = self._bar(
                desc=desc, postfix=postfix, bar_format=layout, initial=done, total=total
            )
            return bar
        bar.bar_format, bar.total, bar.n = layout, total, done
        bar.set_description_str(desc, refresh=False)
        bar.set_postfix_str(postfix, refresh=False)
        bar.refresh()
        return bar

    def _time_left(self, event: str, done: float, total: float, now: float) -> str:
        spent = now - self._began[event]
        if done <= 0 or spent <= 0 or done >= total:
            return ""
        return f"about {_duration((total - done) * spent / done)} left"

    def on_wait(self, wait: RetryWait) -> bool:
        """The HTTP client is about to wait and retry: False (fail now) when it could not even
        connect, else the wait is remembered for :meth:`sleep` to count down."""
        if wait.error is not None and not wait.sent and wait.error.status is None:
            return False
        self._pending = wait
        return True

    def sleep(self, seconds: float) -> None:
        """The HTTP client's sleep: a countdown for a retry wait on a terminal, else a plain sleep."""
        wait, self._pending = self._pending, None
        if self.stream is None or wait is None or seconds < 1:
            self._sleep(seconds)
            return
        desc = f"waiting {_duration(seconds)} for {wait.reason}"
        slept = 0.0
        try:
            while slept < seconds:
                left = [f"{_duration(seconds - slept)} left"]
                self._draw("wait", desc, left, slept, seconds, layout="{desc}{postfix} |{bar:20}|")
                step = min(1.0, seconds - slept)
                self._sleep(step)
                slept += step
        finally:
            bar = self._bars.pop("wait", None)
            if bar is not None:
                bar.close()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


@functools.cache
def _bar_class() -> type:
    from tqdm import tqdm

    class Bar(tqdm):  # type: ignore[misc, type-arg]
        monitor_interval = 0  # no monitor thread: the CLI refreshes each bar itself

    return Bar


@contextmanager
def _session(args: argparse.Namespace) -> Iterator[tuple[Any, dict[str, Any], RunFeedback]]:
    """A Runner, the connection and the run's feedback (drawn on stderr if it is a terminal)."""
    from .runner import Runner

    feedback = RunFeedback(sys.stderr if sys.stderr.isatty() else None)
    hooks: dict[str, Any] = {}
    if args.token_file:  # the file is the token store, shared with other processes
        from .auth_cli import token_file_hooks

        hooks = token_file_hooks(args.token_file)
    runner = Runner(client_options=feedback.client_options, **hooks)
    try:
        with _connection(args) as conn:
            yield runner, conn, feedback
    finally:
        feedback.close()
        runner.close()


# -- commands ----------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    kind: Kind = args.listing
    component = _component()
    rows = [
        {"key": key, "label": getattr(plugin, "label", "")}
        for key, plugin in plugins(component, kind).items()
    ]
    if getattr(args, "all", False):  # then one generated action per operation; listing builds none
        table = getattr(component, "generated_actions", {})
        listed = table.entries() if callable(getattr(table, "entries", None)) else ()
        rows += [{"key": e.key, "label": e.label, "group": e.group} for e in listed]
    if args.json:
        _print_json(rows)
    elif rows:
        width = max(len(r["key"]) for r in rows)
        for r in rows:
            sys.stdout.write(f"{r['key']:<{width}}  {r['label']}\n")
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    component = _component()
    kinds = kinds_of(component)
    if args.kind:
        kinds = tuple(k for k in kinds if k.name == args.kind)
    hits = [kind for kind in kinds if args.key in plugins(component, kind)]
    if len(hits) > 1:
        choices = " or ".join(f"--kind {k.name}" for k in hits)
        raise UsageError(f"{args.key!r} is both {_or_list([k.noun for k in hits])}: add {choices}")
    kind, plugin = find(component, args.key, kinds, describing=True)
    _print_json(describe(kind, plugin))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    find(_component(), args.key, [ACTIONS])
    inputs = _inputs(args.inputs)
    with _session(args) as (runner, conn, feedback):
        run = {"connection": conn, "inputs": inputs, "progress": feedback.progress, "timeout": args.timeout}
        try:  # a list action's records are printed as their pages arrive
            records = runner.stream_action(COMPONENT, args.key, **run)
        except KlaviyoError as exc:
            if exc.code != "not_a_list_action":
                raise
            if args.output == "ndjson":
                raise UsageError(f"--output ndjson: {args.key} is not a list action; leave it out") from None
            records = None
        if records is not None:
            _write_records(records, args.output)
            return 0
        result = runner.run_action(COMPONENT, args.key, **run)
    _print_json(result["data"])
    return 0


def _write_records(records: Any, output: str) -> None:
    """Print a list action's records as pages arrive. A failure part way leaves what was printed
    (whole ndjson lines; an unterminated JSON document) and reaches main as a KlaviyoError."""
    from .stream_output import write_json, write_ndjson

    if output == "json":
        write_json(records, sys.stdout)
        return
    cursor = write_ndjson(records, sys.stdout)["meta"]["next_cursor"]
    if cursor is not None:  # the lines carry no cursor: say how to go on
        sys.stdout.flush()
        sys.stderr.write(f'{PROG}: more records follow; add "pageCursor": "{cursor}" for the next page\n')


def cmd_datasource(args: argparse.Namespace) -> int:
    find(_component(), args.key, [DATA_SOURCES])
    inputs = _inputs(args.inputs)
    with _session(args) as (runner, conn, _feedback):
        result = runner.run_data_source(
            COMPONENT, args.key, connection=conn, inputs=inputs, timeout=args.timeout
        )
    _print_json(result["result"])
    return 0


def cmd_test_connection(args: argparse.Namespace) -> int:
    with _session(args) as (runner, conn, _feedback):
        result = runner.test_connection(COMPONENT, connection=conn)
    _print_json(result)
    return 0


# SandboxOptions (and Sandbox.serve_forever) name their options as Python does; the CLI's flags.
SANDBOX_FLAGS = {
    "fail_after_commit_rate": "--fail-after-commit-rate",
    "fail_after_commit_mode": "--fail-after-commit-mode",
    "fail_rate": "--fail-rate",
    "throttle_rate": "--throttle-rate",
    "rate_limit_scale": "--rate-limit-scale",
    "latency_ms": "--latency-ms",
    "state_path": "--state",
    "seed": "--seed",
}


def as_flags(message: str) -> str:
    """A sandbox option's error in the CLI's terms: ``--fail-rate must be between 0 and 1``."""
    message = re.sub(r"\bpass allow_remote=True to override\b", "use --allow-remote to override", message)
    names = "|".join(sorted(SANDBOX_FLAGS, key=len, reverse=True))
    return re.sub(rf"\b({names})\b", lambda m: SANDBOX_FLAGS[m.group(1)], message)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from .sandbox import Sandbox, SandboxOptions
    from .sandbox.server import default_state_path

    state = args.state or str(default_state_path())
    if args.expire_tokens:
        from .sandbox.resources.oauth import expire_access_tokens
        from .sandbox.store import Store

        with Store(state) as store:
            _print_json({"expired_access_tokens": expire_access_tokens(store, time.time())})
        return 0
    try:
        options = SandboxOptions(
            state_path=state,
            rate_limit_scale=args.rate_limit_scale,
            latency_ms=args.latency_ms,
            fail_rate=args.fail_rate,
            throttle_rate=args.throttle_rate,
            fail_after_commit_rate=args.fail_after_commit_rate,
            fail_after_commit_mode=args.fail_after_commit_mode,
            seed=args.seed,
        )
    except ValueError as exc:  # an option out of range: a usage error, not a traceback
        raise UsageError(as_flags(str(exc))) from None
    box = Sandbox(options)
    if args.reset:
        box.reset()
        box.stop()
        sys.stderr.write(
            f"{PROG}: the sandbox state is empty now ({state}); serve it with `{PROG} sandbox`\n"
        )
        return 0
    try:
        box.serve_forever(args.host, args.port, allow_remote=args.allow_remote, announce=sys.stderr)
    except ValueError as exc:  # a non-loopback host without --allow-remote
        raise UsageError(as_flags(str(exc))) from None
    except KeyboardInterrupt:
        pass
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from .docs import write

    written = write(args.out)
    sys.stderr.write(f"klaviyo-connector: wrote {len(written)} pages under {args.out}\n")
    return 0


def cmd_manifest(args: argparse.Namespace) -> int:
    from .manifest import build_manifest

    _print_json(build_manifest())
    return 0


# -- the parser --------------------------------------------------------------------------------


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of descriptions and examples, and shows each option's default
    (where it has a real one: not a blank, a False switch, or one its help already names)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            not action.option_strings
            or default is None
            or default is False
            or default == argparse.SUPPRESS
            or "default" in text
            or "%(default)" in text
        ):
            return text
        return f"{text} (default: %(default)s)"


# Flags whose value is a secret: argparse quotes a command line back in its errors.
SECRET_FLAGS = ("--api-key", "--client-secret")


def redact_argv(text: str) -> str:
    """``text`` with the value of every secret flag (``--api-key X``, ``--api-key=X``) masked,
    and any secret-shaped token (``pk_...``) too."""
    from .redact import MASK, redact

    for flag in SECRET_FLAGS:
        text = re.sub(rf"({re.escape(flag)})(=|\s+)(\S+)", rf"\1\2{MASK}", text)
    return redact(text)


def option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every long flag ``parser`` takes (``--help`` and ``--debug`` included)."""
    return [flag for action in parser._actions for flag in action.option_strings if flag.startswith("--")]


def unknown_flag_message(extras: Sequence[str], parser: argparse.ArgumentParser) -> str:
    """argparse's "unrecognized arguments" message, with the flag each unknown one was probably
    meant to be (``--sandbx``: did you mean --sandbox?)."""
    message = f"unrecognized arguments: {' '.join(extras)}"
    flags = option_strings(parser)
    unknown = [name for name in (extra.partition("=")[0] for extra in extras) if name.startswith("-")]
    hints = []
    for name in unknown:
        near = difflib.get_close_matches(name if name.startswith("--") else "-" + name, flags, n=1)
        if near:
            hints.append(f"{near[0]} for {name}" if len(unknown) > 1 else near[0])
    return f"{message}; did you mean {_or_list(hints)}?" if hints else message


def _suggest_choice(match: re.Match[str]) -> str:
    choices = re.findall(r"'([^']*)'", match.group(2))
    near = close_matches(match.group(1), choices)[:1]
    return match.group(0) + (f"; did you mean {near[0]}?" if near else "")


# argparse's "invalid choice: 'rn' (choose from 'actions', ...)", to which a did-you-mean is added.
_INVALID_CHOICE = re.compile(r"invalid choice: '([^']*)' \(choose from (.*)\)$")
# argparse's "argument --timeout: must be ..." from one of the CLI's types, as "--timeout must be ...".
_TYPE_ERROR = re.compile(r"^argument (--[\w-]+)(?:/-\w)?: (must\b)")


class Parser(argparse.ArgumentParser):
    """The CLI's parsers (subcommands' too): the help formatter above by default, and errors of
    one line (and a pointer to --help) that say what was probably meant and never repeat a
    secret given on the command line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:  # say so as the command that was given (its flags, its --help)
            leaf = getattr(parsed, "cli_parser", None)
            leaf = leaf if isinstance(leaf, argparse.ArgumentParser) else self
            leaf.error(unknown_flag_message(extras, leaf))
        return parsed

    def error(self, message: str) -> NoReturn:
        message = _TYPE_ERROR.sub(r"\1 \2", redact_argv(message))
        message = _INVALID_CHOICE.sub(_suggest_choice, message)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n(see `{self.prog} --help`)\n")


def timeout_seconds(text: str) -> float:
    """``--timeout``: seconds above 0 and at most a day (the HTTP client's own limits)."""
    from .http import MAX_SECONDS

    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= MAX_SECONDS:  # also refuses nan and inf
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds above 0 and at most {MAX_SECONDS:g} (a day), not {text!r}"
        )
    return seconds


def port_number(text: str) -> int:
    """A TCP port, 0 to 65535; anything else is a usage error."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to 65535, not {text!r}")
    return port


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


# Examples for subcommands registered elsewhere that bring none of their own.
EXAMPLES = {
    "docs": _examples(f"{PROG} docs --out docs"),
    "manifest": _examples(f"{PROG} manifest > manifest.json"),
}


def _debug_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log each request (method, path, status, time; secrets redacted) to stderr",
    )


def _connection_flags(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("connection (before or after the command)")
    group.add_argument(
        "--api-key", default=argparse.SUPPRESS, help="private API key (default: $KLAVIYO_API_KEY)"
    )
    group.add_argument(
        "--base-url",
        default=argparse.SUPPRESS,
        help="API host (default: $KLAVIYO_BASE_URL, else https://a.klaviyo.com)",
    )
    group.add_argument(
        "--sandbox",
        action="store_true",
        default=argparse.SUPPRESS,
        help="run against the built-in local sandbox (no Klaviyo account needed)",
    )
    group.add_argument(
        "--token-file",
        default=argparse.SUPPRESS,
        help="use the OAuth token saved by `auth login` (refreshed tokens are saved back)",
    )


def _subparsers(p: argparse.ArgumentParser) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each direct subcommand of ``p``."""
    for action in p._actions:  # argparse keeps subcommands in a _SubParsersAction
        if isinstance(action, argparse._SubParsersAction):
            helps = {c.dest: c.help or "" for c in action._choices_actions}
            seen: set[int] = set()
            for name, child in action.choices.items():
                if id(child) not in seen:
                    seen.add(id(child))
                    yield name, helps.get(name, ""), child


def _finish(p: argparse.ArgumentParser) -> None:
    """Give every parser under ``p`` the global flags, a description and examples (where the
    code that registered it gave none), and make flags it shares with the global ones leave a
    value given before the command alone."""
    p.set_defaults(cli_parser=p)
    for action in p._actions:
        if action.dest in GLOBAL_DEFAULTS:
            action.default = argparse.SUPPRESS
    if not any(action.dest == "debug" for action in p._actions):
        _debug_flag(p)
    for name, helptext, child in _subparsers(p):
        if not child.description and helptext:
            child.description = helptext[0].upper() + helptext[1:] + "."
        if not child.epilog and name in EXAMPLES:
            child.epilog = EXAMPLES[name]
        _finish(child)


def build_parser() -> argparse.ArgumentParser:
    from .version import __version__

    component = _component()
    parser = Parser(
        prog=PROG,
        description=(
            "Run Klaviyo connector actions and picklists against Klaviyo or the built-in sandbox,\n"
            "list and describe them, and log in with OAuth."
        ),
        epilog=_examples(
            f"{PROG} actions",
            f"{PROG} describe createProfile",
            f"{PROG} run listAccounts --sandbox",
            f'{PROG} run getProfile --inputs \'{{"profileId": "01J..."}}\' --api-key pk_...',
            f"{PROG} <command> --help",
        )
        + "\n\n"
        "Credentials: --api-key and --base-url (or $KLAVIYO_API_KEY and $KLAVIYO_BASE_URL),\n"
        "--token-file after `auth login`, or --sandbox. --debug and these flags go before or\n"
        'after the command. Exit status: 0 done, 1 the call failed ({"error": ...} on stderr),\n'
        "2 a usage error (a bad flag or an unknown key, with what was probably meant).",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _debug_flag(parser)
    _connection_flags(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="<command>")

    for kind in kinds_of(component):
        p = sub.add_parser(
            kind.command,
            help=f"list every {kind.noun}'s key and label",
            description=(
                f"List every {kind.noun}: its key (what `describe`"
                + (f" and `{kind.run}`" if kind.run else "")
                + " take) and its label;\na table, or JSON with --json."
            ),
            epilog=_examples(f"{PROG} {kind.command}", f"{PROG} {kind.command} --json"),
        )
        p.add_argument("--json", action="store_true", help="print a JSON array of {key, label}")
        if kind is ACTIONS:
            p.add_argument(
                "--all",
                action="store_true",
                help="after the curated actions, list the one generated for every Klaviyo operation",
            )
        p.set_defaults(func=cmd_list, listing=kind)

    nouns = _or_list([k.noun for k in kinds_of(component)])
    p = sub.add_parser(
        "describe",
        help=f"describe {_a(nouns)}: inputs (JSON Schema), flags, scopes",
        description=(
            f"Describe {_a(nouns)} as JSON: its inputs as JSON Schema (titles are the form\n"
            "labels; ID inputs name their picklist in x-data-source), its flags, the Klaviyo\n"
            "operations it calls and their scopes and rate limits."
        ),
        epilog=_examples(f"{PROG} describe createProfile", f"{PROG} describe selectList"),
    )
    p.add_argument("key", help="the key, as `actions` or `datasources` lists it")
    p.add_argument(
        "--kind",
        choices=[k.name for k in kinds_of(component)],
        help="which kind of plugin, when a key names more than one",
    )
    p.set_defaults(func=cmd_describe)

    p = sub.add_parser(
        "run",
        help="run an action and print its result as JSON",
        description=(
            "Run an action and print its result as JSON: for most actions Klaviyo's JSON:API\n"
            'document, for rawRequest {"data", "status", "headers", "attempts"}. On a terminal,\n'
            "progress (paging, batches, bulk jobs) and retry waits are shown on stderr.\n\n"
            "A list action's records are printed as their pages arrive (one page in memory):\n"
            "--output ndjson prints one record a line and, when more pages remain, the next\n"
            "pageCursor on stderr. If a later page fails, the exit code is 1, the error is on\n"
            "stderr and stdout keeps what was printed: whole lines, or with json an\n"
            "unterminated document that no JSON parser takes for the whole result."
        ),
        epilog=_examples(
            f"{PROG} run listAccounts --sandbox",
            f'{PROG} run createOrUpdateProfile --sandbox --inputs \'{{"email": "sarah@example.com"}}\'',
            f'{PROG} run listProfile --sandbox --inputs \'{{"fetchAll": true, "pageSize": 100}}\'',
            f"{PROG} run listProfile --sandbox --output ndjson --inputs '{{\"fetchAll\": true}}'",
            f"{PROG} run createList --inputs @inputs.json --api-key pk_...",
        ),
    )
    _run_flags(p, "action")
    p.add_argument(
        "--output",
        choices=("json", "ndjson"),
        default="json",
        help="json: the result as one JSON document (default); ndjson: a list action's records, one "
        "JSON object a line. Either way a list action's records are printed as their pages arrive",
    )
    p.set_defaults(func=cmd_run)

    p = sub.add_parser(
        "datasource",
        help="run a picklist data source and print its options",
        description='Run a picklist data source and print its options as a JSON list of {"key", "label"}.',
        epilog=_examples(
            f"{PROG} datasource selectList --sandbox",
            f'{PROG} datasource selectProfile --sandbox --inputs \'{{"search": "sarah"}}\'',
        ),
    )
    _run_flags(p, "data source")
    p.set_defaults(func=cmd_datasource)

    p = sub.add_parser(
        "test-connection",
        help="check the credentials with GET /api/accounts",
        description=(
            "Check the credentials with GET /api/accounts and print the account's ID and\n"
            "organization name, or say plainly what is wrong."
        ),
        epilog=_examples(
            f"{PROG} test-connection --sandbox",
            f"KLAVIYO_API_KEY=pk_... {PROG} test-connection",
            f"{PROG} test-connection --token-file tok.json",
        ),
    )
    _connection_flags(p)
    p.set_defaults(func=cmd_test_connection)

    p = sub.add_parser(
        "sandbox",
        help="serve the local Klaviyo sandbox until interrupted",
        description=(
            "Serve the local Klaviyo sandbox (an emulator of the Klaviyo API) on loopback until\n"
            "interrupted. Its state is a SQLite file in your cache directory, kept between runs and\n"
            "shared with --sandbox runs: the banner prints the API key of that default account and\n"
            "the base URL to use with it. --reset empties the state and exits."
        ),
        epilog=_examples(
            f"{PROG} sandbox --port 8787",
            f"{PROG} sandbox --reset",
            f"{PROG} sandbox --rate-limit-scale 0",
            f"{PROG} sandbox --fail-rate 0.1 --throttle-rate 0.1",
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=port_number, default=8787, help="port to listen on (0: any free port)")
    p.add_argument("--state", help="SQLite state file (default: in the user cache directory)")
    p.add_argument("--reset", action="store_true", help="empty the state file and exit")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    p.add_argument("--rate-limit-scale", type=float, default=1.0, help="multiply rate limits (0 = off)")
    p.add_argument("--latency-ms", type=int, default=0, help="added latency per response")
    p.add_argument("--fail-rate", type=float, default=0.0, help="fraction of requests answered 503")
    p.add_argument("--throttle-rate", type=float, default=0.0, help="fraction of requests answered 429")
    p.add_argument(
        "--fail-after-commit-rate",
        type=float,
        default=0.0,
        help="fraction of successful writes that fail after their change is saved",
    )
    p.add_argument(
        "--fail-after-commit-mode",
        choices=("error", "drop"),
        default="error",
        help="how such a write fails: answered 503 (error) or the connection closed with no answer (drop)",
    )
    p.add_argument("--seed", type=int, help="make the injected faults repeatable")
    p.add_argument(
        "--expire-tokens", action="store_true", help="expire every OAuth access token in the state and exit"
    )
    p.set_defaults(func=cmd_sandbox)

    p = sub.add_parser("docs", help="write the reference docs (Markdown) generated from the component")
    p.add_argument("--out", required=True, help="directory to write into, e.g. docs")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("manifest", help="print the host manifest: the whole component as one JSON document")
    p.set_defaults(func=cmd_manifest)

    from .auth_cli import add_parser as add_auth_parser

    add_auth_parser(sub)
    from .trigger_cli import add_parser as add_trigger_parser

    add_trigger_parser(sub)
    from .mcp_cli import add_parser as add_mcp_parser

    add_mcp_parser(sub)
    _finish(parser)
    return parser


def _run_flags(p: argparse.ArgumentParser, noun: str) -> None:
    p.add_argument(
        "key", help=f"the {noun}'s key (see `{PROG} {'actions' if noun == 'action' else 'datasources'}`)"
    )
    p.add_argument("--inputs", help="inputs as a JSON object, or @FILE to read them from a file")
    p.add_argument(
        "--timeout",
        type=timeout_seconds,
        help="the most seconds the whole run may take, retries and waits included "
        "(default: the connection's, else 300)",
    )
    _connection_flags(p)


def _settle(args: argparse.Namespace) -> argparse.Namespace:
    """Refuse a global flag the command does not take, then fill in every global default."""
    leaf: argparse.ArgumentParser = args.cli_parser
    takes = {action.dest for action in leaf._actions}
    for dest in CONNECTION_FLAGS:
        if hasattr(args, dest) and dest not in takes:
            flag = "--" + dest.replace("_", "-")
            raise UsageError(f"{flag} does not apply to `{leaf.prog}`")
    for dest, default in GLOBAL_DEFAULTS.items():
        if not hasattr(args, dest):
            setattr(args, dest, default)
    return args


# -- main --------------------------------------------------------------------------------------


class _StderrHandler(logging.Handler):
    """Writes each record to whatever ``sys.stderr`` is when it is logged."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:  # logging's own convention: report, never raise
            self.handleError(record)


@contextmanager
def _debug_log(enabled: bool, secrets: Sequence[str]) -> Iterator[None]:
    """With ``--debug``, every logger's records (requests included, secrets redacted) go to
    stderr for this command, whatever handlers the process has already."""
    if not enabled:
        yield
        return
    handler = _StderrHandler()
    handler.addFilter(_RedactingFilter(secrets))
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


class _RedactingFilter(logging.Filter):
    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self.secrets)
        record.args = ()
        return True


def _sandbox_token_file(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            return "sandbox" in json.load(fh)
    except (OSError, ValueError, TypeError):
        return False


def _explain(exc: KlaviyoError, args: argparse.Namespace) -> None:
    """Add what to do about a failure, in the CLI's terms (in place)."""
    extra = ""
    if exc.error_class == REAUTH_REQUIRED and args.token_file and exc.code != "no_token_file":
        from .auth_cli import login_command

        login = login_command(args.token_file, sandbox=args.sandbox or _sandbox_token_file(args.token_file))
        extra = f"With the CLI: run `{login}`."
    elif exc.status is None and exc.code in ("connection_error", "timeout", "transport_error"):
        base = getattr(args, "base_url_in_use", None)
        if base and not args.base_url and not args.sandbox and not args.token_file:
            where = f"{base}, from $KLAVIYO_BASE_URL"
        else:
            where = base or "https://a.klaviyo.com, the default"
        extra = (
            f"Check the Base URL ({where}), this machine's network connection and any proxy "
            "settings ($HTTPS_PROXY, $HTTP_PROXY, $NO_PROXY)."
        )
    if extra:
        exc.message = f"{exc.message.rstrip()} {extra}"
        exc.args = (exc.message,)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    secrets = [
        getattr(args, "api_key", None) or "",
        os.environ.get("KLAVIYO_API_KEY", ""),
        getattr(args, "client_secret", None) or "",
        os.environ.get("KLAVIYO_CLIENT_SECRET", ""),
    ]
    try:
        args = _settle(args)
        with _debug_log(args.debug, secrets):
            return int(args.func(args))
    except UsageError as exc:
        sys.stderr.write(f"{PROG}: {redact(str(exc), secrets)}\n")
        return EXIT_USAGE
    except KlaviyoError as exc:
        _explain(exc, args)
        _print_json({"error": exc.scrubbed(secrets).to_dict()}, sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{PROG}: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, as Unix tools do, and keep Python
        # from complaining again when it flushes stdout on the way out.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
