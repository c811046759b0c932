"""A context variable set for the length of a ``with`` block.

As ``contextlib.contextmanager`` would do it, at a fraction of its cost: every action run sets
two (its deadline, its secret-echo flag), so the generator machinery showed in the per-call CPU.
"""

from __future__ import annotations

import contextvars
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Scoped(Generic[T]):
    """``with Scoped(var, value) as v:`` sets ``var`` to ``value`` (also ``v``) within the block,
    and back to what it was after it. Not reentrant: one instance per block."""

    __slots__ = ("_token", "value", "var")

    def __init__(self, var: contextvars.ContextVar[T], value: T) -> None:
        self.var = var
        self.value = value

    def __enter__(self) -> T:
        self._token = self.var.set(self.value)
        return self.value

    def __exit__(self, *exc_info: Any) -> None:
        self.var.reset(self._token)
