"""klaviyo-connector: a Klaviyo connector component for integration platforms.

Importing this package is cheap; the runner, HTTP core and action tables load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .errors import KlaviyoError
    from .runner import Runner

__all__ = ["KlaviyoError", "Runner", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Runner":
        from .runner import Runner

        return Runner
    if name == "KlaviyoError":
        from .errors import KlaviyoError

        return KlaviyoError
    raise AttributeError(name)
