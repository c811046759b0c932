"""A local, stateful emulator of the Klaviyo API, served over real HTTP on loopback.

Used by ``klaviyo-connector run ... --sandbox`` (no Klaviyo account needed), as the target
of the integration tests and as a bench for performance and fault tests::

    from klaviyo_connector.sandbox import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(rate_limit_scale=0)) as base_url:   # http://127.0.0.1:<port>
        ...                                   # call it; the sandbox stops at the end

Importing this package is cheap: werkzeug and sqlite load when a sandbox is built.
Modules: ``server`` (Sandbox, options), ``app`` (WSGI app and request pipeline), ``store``
(SQLite state), ``filters`` (Klaviyo's filter grammar), ``ratelimit``, ``context`` (what
handlers see), ``validation`` (every request checked against the spec), ``generic`` (the
spec-driven core answering every operation no family serves), ``instances`` (smallest valid
values of a schema), ``resources/`` (one module per resource family; see its docstring).
"""

from __future__ import annotations

from .server import DEFAULT_API_KEY, Sandbox, SandboxOptions, ServedURL, default_state_path

__all__ = ["DEFAULT_API_KEY", "Sandbox", "SandboxOptions", "ServedURL", "default_state_path"]
