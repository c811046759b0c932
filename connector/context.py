"""What an action's ``perform`` receives besides its inputs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .http import KlaviyoClient

Progress = Callable[[str, Mapping[str, Any]], None]


def _quiet(event: str, info: Mapping[str, Any]) -> None:
    return None


@dataclass
class Context:
    client: KlaviyoClient
    connection_key: str
    progress: Progress = _quiet  # e.g. progress("pages", {"pages": 3, "records": 300})
    # Set by Runner.stream_action: a list action returns its pages unsent (streaming.RecordPages).
    stream: bool = False
    logger: logging.Logger = field(default=logging.getLogger("klaviyo_connector.action"))
