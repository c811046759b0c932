"""Helpers for sandbox tests: a raw HTTP client that checks requests and responses against the
spec, a clock the tests move, and a sandbox with a runner and a connection for one account."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests
from conftest import run
from contract import load_spec, validate_request, validate_response
from klaviyo_connector import Runner
from klaviyo_connector.sandbox import Sandbox, SandboxOptions

KEY = "pk_sandboxclient0123456789ab"
JSONAPI = "application/vnd.api+json"
T0 = 1_784_073_600.0  # 2026-07-15T00:00:00Z
HTML = "<html><body>Hello</body></html>"


def headers(key: str = KEY) -> dict[str, str]:
    return {
        "Authorization": f"Klaviyo-API-Key {key}",
        "revision": "2026-07-15",
        "Accept": JSONAPI,
        "Content-Type": JSONAPI,
    }


HEADERS = headers()


class Client:
    """Calls to one sandbox with one key. Each request is validated against the spec before it is
    sent and each response after; bodiless 202/204 answers are accepted."""

    def __init__(self, base_url: str, key: str = KEY) -> None:
        self.base_url = base_url
        self.headers = headers(key)
        self.session = requests.Session()

    @classmethod
    def of(cls, connection: dict[str, Any]) -> Client:
        """A client for a connection's sandbox account (e.g. the ``sandbox_connection`` fixture)."""
        return cls(connection["fields"]["baseUrl"], connection["fields"]["apiKey"])

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        *,
        check: bool = True,
        sparse: bool = False,
    ) -> requests.Response:
        """``check=False`` or own ``headers``: a request invalid on purpose, so only the response is
        validated. ``sparse=True``: a sparse fieldset drops attributes the schema requires (as
        Klaviyo's own responses do), so only the request is validated. Paths under /sandbox/ are
        the sandbox's own and not in the spec."""
        url = path if path.startswith("http") else self.base_url + path
        sent = dict(self.headers if headers is None else headers)
        if body is None:
            sent.pop("Content-Type", None)
        prepared = self.session.prepare_request(
            requests.Request(method, url, json=body, params=params, headers=sent)
        )
        in_spec = not path.startswith("/sandbox/")
        if check and headers is None and in_spec:
            validate_request(method, prepared.url or url, prepared.headers, prepared.body)
        r = self.session.send(prepared, timeout=10)
        if in_spec and not sparse:
            validate_response(method, prepared.url or url, r.status_code, r.content or None)
        if r.content:
            assert r.headers["Content-Type"] == JSONAPI
        return r


def serve() -> Iterator[Client]:
    """A fresh in-memory sandbox for one test: ``yield from serve()`` in a fixture."""
    load_spec()
    box = Sandbox(SandboxOptions(state_path=":memory:", rate_limit_scale=0))
    url = box.start()
    yield Client(url)
    box.stop()


class FakeClock:
    """Epoch seconds that move only when a test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Box:
    """A sandbox with a movable clock, a runner and a connection for one account."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.sandbox = Sandbox(SandboxOptions(state_path=":memory:", rate_limit_scale=0, clock=self.clock))
        self.url = self.sandbox.start()
        self.api = Client(self.url)
        self.runner = Runner(client_options={"sleep": lambda s: None})
        self.connection = {"key": "apiKey", "fields": {"apiKey": KEY, "baseUrl": self.url}}
        self.lists: list[str] = []

    @classmethod
    def serve(cls) -> Iterator[Box]:
        """``yield from Box.serve()`` in a fixture."""
        box = cls()
        yield box
        box.close()

    def run(self, action: str, inputs: dict[str, Any]) -> Any:
        return run(self.runner, action, inputs, connection=self.connection)["data"]

    def audience(self, people: list[dict[str, Any]], *, sms_consent: bool = False) -> str:
        """A new list holding new profiles (``createProfile`` inputs); with ``sms_consent`` the
        people are subscribed to SMS marketing through the list instead."""
        list_id = str(self.run("createList", {"listName": f"Audience {len(self.lists)}"})["data"]["id"])
        self.lists.append(list_id)
        if sms_consent:
            subscribers = [{"phone_number": p["phoneNumber"], "channels": ["sms_marketing"]} for p in people]
            self.run("subscribeProfiles", {"profiles": subscribers, "listId": list_id})
        elif people:
            ids = [self.run("createProfile", inputs)["data"]["id"] for inputs in people]
            self.run("addProfilesToList", {"listId": list_id, "profileIds": ids})
        return list_id

    def post(self, path: str, body: Any) -> requests.Response:
        """A request that may be invalid on purpose: only the response is checked."""
        return self.api("POST", path, body, check=False)

    def get(self, path: str) -> requests.Response:
        return self.api("GET", path, check=False)

    def close(self) -> None:
        self.runner.close()
        self.sandbox.stop()


EMAIL = {
    "channel": "email",
    "label": "Main",
    "content": {"subject": "Summer sale", "from_email": "store@example.com", "from_label": "My Store"},
}


def new_campaign(box: Box, audience: str, **inputs: Any) -> dict[str, Any]:
    """``createCampaign`` of an email campaign to ``audience``; ``inputs`` override the defaults."""
    base = {"campaignName": "Summer", "includedAudiences": audience, "campaignMessages": [EMAIL]}
    created = box.run("createCampaign", {**base, **inputs})
    validate_response("POST", f"{box.url}/api/campaigns", 201, created)
    return created
