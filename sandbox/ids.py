"""Identifiers shaped like Klaviyo's.

Profiles (and events, flows, ...) use 26-character ULIDs in Crockford base32, upper case
(``01J18FVB5H8XR1X9AXEQFVRW7A``); accounts, lists and a few others use 6-character
alphanumeric ids (``Y6nRLr``).
"""

from __future__ import annotations

import os
import random
import string
import uuid

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_SHORT_ALPHABET = string.ascii_letters + string.digits
# Ids are names, not secrets (tokens come from ``secrets``): a generator seeded from os.urandom
# when the process starts is unique enough and costs one call per id, not a syscall per character.
_RANDOM = random.Random()
if hasattr(os, "register_at_fork"):  # a forked child must not repeat its parent's ids
    os.register_at_fork(after_in_child=_RANDOM.seed)


def ulid(now: float) -> str:
    """A ULID for the time ``now`` (epoch seconds): 48 bits of milliseconds, 80 random bits."""
    millis = int(now * 1000) & ((1 << 48) - 1)
    value = (millis << 80) | _RANDOM.getrandbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def uuid4() -> str:
    """A random (version 4) UUID as text, without a syscall per id (events' ``uuid``)."""
    return str(uuid.UUID(int=_RANDOM.getrandbits(128), version=4))


def short_id(length: int = 6) -> str:
    """A random mixed-case alphanumeric id, 6 characters by default (accounts, lists)."""
    return "".join(_RANDOM.choices(_SHORT_ALPHABET, k=length))
