"""A raw HTTP client for sandbox tests: validates each request and response against the spec.

Unlike ``test_sandbox_contract.Recorder`` it accepts bodiless 202/204 answers, and ``check=False``
sends a request that is invalid on purpose (only the response is validated then).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests
from contract import load_spec, validate_request, validate_response
from klaviyo_connector.sandbox import Sandbox, SandboxOptions

KEY = "pk_sandboxclient0123456789ab"
HEADERS = {
    "Authorization": f"Klaviyo-API-Key {KEY}",
    "revision": "2026-07-15",
    "Accept": "application/vnd.api+json",
    "Content-Type": "application/vnd.api+json",
}


class Client:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        *,
        check: bool = True,
        sparse: bool = False,
    ) -> requests.Response:
        """``sparse=True``: a sparse fieldset drops attributes the schema requires, so only the
        request is validated. Paths under /sandbox/ are the sandbox's own and not in the spec."""
        url = path if path.startswith("http") else self.base_url + path
        headers = dict(HEADERS)
        if body is None:
            headers.pop("Content-Type")
        prepared = self.session.prepare_request(
            requests.Request(method, url, json=body, params=params, headers=headers)
        )
        in_spec = not path.startswith("/sandbox/")
        if check and in_spec:
            validate_request(method, prepared.url or url, prepared.headers, prepared.body)
        r = self.session.send(prepared, timeout=10)
        if in_spec and not sparse:
            validate_response(method, prepared.url or url, r.status_code, r.content or None)
        if r.content:
            assert r.headers["Content-Type"] == "application/vnd.api+json"
        return r


def serve() -> Iterator[Client]:
    """A fresh in-memory sandbox for one test: ``yield from serve()`` in a fixture."""
    load_spec()
    box = Sandbox(SandboxOptions(state_path=":memory:", rate_limit_scale=0))
    url = box.start()
    yield Client(url)
    box.stop()
