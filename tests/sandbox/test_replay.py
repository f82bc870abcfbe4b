"""Auth0's recorded exchanges as the oracle: go-auth0's cassettes replayed against the sandbox.

`tests/sandbox/data/go_auth0/interactions.json` holds the exchanges Auth0's Go SDK recorded against
a live tenant on the endpoints the sandbox emulates (or is meant to), cassette by cassette, in
order. Each cassette is replayed against a sandbox server of its own module; every exchange on an
emulated operation (`sandbox.oas.extract.EMULATED`) must get the recorded status and content type,
the same top-level keys, and for errors the same `errorCode` and `message`. Ids the live tenant
made up (users, jobs, connections, roles, resource servers) are mapped to the sandbox's as the
answers reveal them, in cassette order. A cassette is skipped only for what the sandbox cannot
have, with its reason in `SKIPPED`; in the others every exchange replays, but those on an
operation the sandbox does not emulate (`NOT_EMULATED`, each with what it is) and those after it
on the same user. An id the replay cannot follow, or an unlisted operation, fails the test.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from sandbox.oas.extract import EMULATED
from sandbox.seed import CONNECTIONS, DATABASE_CONNECTION
from tests.fixtures.celery import wait_for
from tests.fixtures.sandbox import SandboxServer, make_sandbox_server

DATA = json.loads(
    (Path(__file__).parent / "data" / "go_auth0" / "interactions.json").read_text(encoding="utf-8")
)
CASSETTES: dict[str, list[dict[str, Any]]] = DATA["cassettes"]
SANDBOX_DATABASE_ID = next(c[0] for c in CONNECTIONS if c[1] == DATABASE_CONNECTION)

# Values of the live tenant that have a sandbox twin: its database connection's id.
MAPPED = {"con_ftSSLHb0O7rcUGmF": SANDBOX_DATABASE_ID}

# Why an exchange is not replayed: the one list (cassette patterns, then the general reasons).
SKIPPED: dict[str, str] = {
    "TestClient_CreateLinkedToResourceServer.yaml": (
        "reads a resource server Auth0 linked to an application the cassette created with "
        "POST /clients; applications are not the sandbox's (it has one, made by its settings)"
    ),
    "TestResourceServer_ACR.yaml": (
        "creates Auth0's own My Account API (its reserved identifier `https://{tenant}/me/`), "
        "which Auth0 fills with its system scopes and policies; the sandbox has no system APIs"
    ),
    "TestResourceServer_ExpressConfiguration.yaml": (
        "creates Auth0's own Okta Express Configuration API (reserved identifier "
        "`urn:auth0:express-configure`), a system API the sandbox does not have"
    ),
    "TestJobManager_ImportUsersWithNilOptions.yaml": (
        "the recorded search for the imported user came while the live tenant's import still ran "
        "(the Go test does not wait for it) and found nobody; the sandbox's one-user import has "
        "finished by then"
    ),
    "TestUserManager_GetUserLogs.yaml": (
        "the recorded read of a new user's log came right after the signup and found nothing "
        "(Auth0's logs arrive late); the sandbox logs the signup (`ss`) at once"
    ),
    "TestUserManager_*RefreshTokens.yaml": (
        "the live tenant answered for the placeholder user id `UserID` with its own tokens; "
        "the sandbox has no such user"
    ),
}
# Operations on a user that recorded cassettes call and the sandbox does not answer (none of them
# is a call Userdesk makes): each exchange on one, and each later one on the same user, is not
# replayed; the rest of its cassette is (docs/sandbox/differences.md).
NOT_EMULATED: dict[tuple[str, str], str] = {
    ("POST", "/tickets/email-verification"): "email verification tickets",
    ("POST", "/users/{id}/authentication-methods"): "enrolling an authentication method by API",
    ("PUT", "/users/{id}/authentication-methods"): "replacing a user's authentication methods",
    ("PATCH", "/users/{id}/authentication-methods/{m}"): "renaming an authentication method",
    ("GET", "/users/{id}/enrollments"): "Guardian enrollments (the authentication methods are)",
    ("POST", "/users/{id}/recovery-code-regeneration"): "MFA recovery codes",
    ("POST", "/users/{id}/risk-assessments/clear"): "risk assessment (Auth0's Adaptive MFA)",
    ("GET", "/users/{id}/connected-accounts"): "Connected Accounts (Token Vault)",
    ("GET", "/users/{id}/federated-connections-tokensets"): "Token Vault token sets",
    ("DELETE", "/users/{id}/federated-connections-tokensets/{s}"): "Token Vault token sets",
}
NOT_EMULATED_ROUTES = [
    (method, re.compile("^/api/v2" + re.sub(r"\{[a-z]+\}", "[^/]+", path) + "$"), reason)
    for (method, path), reason in NOT_EMULATED.items()
]
REASONS = {
    "unknown_id": "names an id the live tenant made by a call the sandbox does not emulate",
    "after_unemulated_write": "follows a change the sandbox does not emulate, to the same user",
}
# Optional keys whose presence is the tenant's data, not the answer's shape.
OPTIONAL_KEYS = {
    "display_name": (
        "the live tenant's database connection had no display name; the sandbox's has one"
    ),
    "authentication": (
        "on every connection object since late 2025 (recorded in 2026); older cassettes lack it"
    ),
    "connected_accounts": (
        "on every connection object since late 2025 (recorded in 2026); older cassettes lack it"
    ),
}
RECORDED_ID = re.compile(
    r"(auth0(%7C|\|)[0-9a-f]{24}|job_[A-Za-z0-9]{16}|con_[A-Za-z0-9]{16}|rol_[A-Za-z0-9]{16}"
    r"|(?<=resource-servers/)[0-9a-f]{24})"
)
# Paged answers wrap their items: compare the keys of those too.
WRAPPED_LISTS = ("users", "connections")
JOB = re.compile(r"^(/api/v2/jobs/job_[A-Za-z0-9]+)(/errors)?$")
SETTLED = ("completed", "failed")
EMAIL = re.compile(r"[A-Za-z0-9._-]+@example\.com")
ROUTES = [
    (method.upper(), re.compile("^/api/v2" + re.sub(r"\{[a-z_]+\}", "[^/]+", path) + "$"))
    for path, method in EMULATED
]


def _ids(text: str) -> set[str]:
    return {match.group(0).replace("%7C", "|") for match in RECORDED_ID.finditer(text)}


def emulated(method: str, path: str) -> bool:
    return any(method == m and route.match(path) for m, route in ROUTES)


def not_emulated(method: str, path: str) -> str | None:
    """Why an operation is not replayed, when NOT_EMULATED says so."""
    for known, route, reason in NOT_EMULATED_ROUTES:
        if method == known and route.match(path):
            return f"not emulated: {reason}"
    return None


def skipped_cassette(name: str) -> str | None:
    for pattern, reason in SKIPPED.items():
        if fnmatch.fnmatch(name, pattern):
            return reason
    return None


@dataclass
class Replay:
    """One cassette's replay: ids learnt so far and what it could not replay."""

    mapped: dict[str, str] = field(default_factory=lambda: dict(MAPPED))
    tainted: set[str] = field(default_factory=set)
    skips: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    replayed: int = 0
    deleted_connections: set[str] = field(default_factory=set)

    def own_addresses(self, body: str, serial: int) -> None:
        """Each cassette creates its users at addresses of its own: the live tenant's cassettes
        ran at different times and deleted their users, which a replay cannot count on."""
        for address in EMAIL.findall(body):
            local, _, domain = address.partition("@")
            self.mapped.setdefault(address, f"{local}.r{serial}@{domain}")

    def rewrite(self, text: str) -> str:
        for recorded, ours in self.mapped.items():
            text = text.replace(recorded, ours)
            text = text.replace(quote(recorded, safe=""), quote(ours, safe=""))
        return text

    def learn(self, recorded: Any, ours: Any) -> None:
        """Map the ids a recorded answer made up to the sandbox's; a list's (or a paged
        answer's) items pairwise, when both hold one item (a search by name or email)."""
        if isinstance(recorded, dict) and isinstance(ours, dict):
            for wrapped in WRAPPED_LISTS:
                if wrapped in recorded:
                    self.learn(recorded[wrapped], ours.get(wrapped))
        one = isinstance(recorded, list) and isinstance(ours, list)
        if one and len(recorded) == len(ours) == 1:
            self.learn(recorded[0], ours[0])
        if not (isinstance(recorded, dict) and isinstance(ours, dict)):
            return
        for key in ("user_id", "id"):
            if isinstance(recorded.get(key), str) and isinstance(ours.get(key), str):
                self.mapped.setdefault(recorded[key], ours[key])
        identities = (recorded.get("identities") or [{}])[0], (ours.get("identities") or [{}])[0]
        if isinstance(identities[0].get("user_id"), str) and identities[1].get("user_id"):
            self.mapped.setdefault(identities[0]["user_id"], str(identities[1]["user_id"]))


def _keys(body: Any) -> set[str] | None:
    if isinstance(body, dict):
        return set(body)
    if isinstance(body, list) and body and all(isinstance(item, dict) for item in body):
        return set().union(*body)
    return None


def compare(where: str, recorded: dict[str, Any], response: httpx.Response) -> list[str]:
    problems = []
    if response.status_code != recorded["status"]:
        problems.append(f"{where}: status {response.status_code}, recorded {recorded['status']}")
    ours_type = response.headers.get("Content-Type", "")
    if recorded["content_type"] and ours_type != recorded["content_type"]:
        problems.append(
            f"{where}: content type {ours_type!r}, recorded {recorded['content_type']!r}"
        )
    if not recorded["body"].strip():
        if response.content.strip():
            problems.append(f"{where}: a body, recorded none")
        return problems
    expected = json.loads(recorded["body"])
    try:
        ours = response.json()
    except ValueError:
        return [*problems, f"{where}: not JSON: {response.text[:200]!r}"]
    if recorded["status"] >= 400 and expected == {}:
        return problems  # the recording kept no error body (2025 cassettes): the status tells
    if recorded["status"] >= 400 and isinstance(expected, dict):
        for key in ("errorCode", "message"):
            if expected.get(key) != (ours.get(key) if isinstance(ours, dict) else None):
                problems.append(f"{where}: {key} {ours.get(key)!r}, recorded {expected.get(key)!r}")
        return problems
    if type(ours) is not type(expected):
        return [
            *problems,
            f"{where}: a {type(ours).__name__}, recorded a {type(expected).__name__}",
        ]
    problems += _compare_keys(where, expected, ours)
    for wrapped in WRAPPED_LISTS:
        if isinstance(expected, dict) and isinstance(ours, dict) and wrapped in expected:
            problems += _compare_keys(f"{where} {wrapped}", expected[wrapped], ours.get(wrapped))
    return problems


def _compare_keys(where: str, expected: Any, ours: Any) -> list[str]:
    """Top-level keys (of each item, for a list); a list the tenant filled must not be empty."""
    if isinstance(expected, list) and bool(expected) != bool(ours):
        return [f"{where}: {len(ours or [])} items, recorded {len(expected)}"]
    recorded_keys, our_keys = _keys(expected), _keys(ours)
    if recorded_keys is not None and our_keys is not None:
        recorded_keys, our_keys = recorded_keys - set(OPTIONAL_KEYS), our_keys - set(OPTIONAL_KEYS)
    if recorded_keys is not None and our_keys is not None and recorded_keys != our_keys:
        return [
            f"{where}: keys missing {sorted(recorded_keys - our_keys)}, "
            f"extra {sorted(our_keys - recorded_keys)}"
        ]
    return []


def replay(api: httpx.Client, name: str, exchanges: list[dict[str, Any]]) -> Replay:
    state = Replay()
    serial = sorted(CASSETTES).index(name)
    for exchange in exchanges:
        where = f"{name} #{exchange['id']} {exchange['method']} {exchange['path']}"
        recorded_ids = _ids(exchange["path"] + "?" + exchange["query"] + exchange["request_body"])
        if recorded_ids & state.tainted:
            state.skips.append(f"{where}: {REASONS['after_unemulated_write']}")
            continue
        if not emulated(exchange["method"], exchange["path"]):
            if exchange["method"] != "GET":
                state.tainted |= recorded_ids
            reason = not_emulated(exchange["method"], exchange["path"])
            if reason is None:
                state.mismatches.append(f"{where}: not emulated, and not in NOT_EMULATED")
            state.skips.append(f"{where}: {reason}")
            continue
        if exchange["method"] == "POST" and exchange["path"] == "/api/v2/users":
            state.own_addresses(exchange["request_body"], serial)
        path, query = state.rewrite(exchange["path"]), state.rewrite(exchange["query"])
        body = state.rewrite(exchange["request_body"])
        if _ids(path + "?" + query + body) - set(state.mapped.values()):
            state.mismatches.append(f"{where}: {REASONS['unknown_id']}")
            continue
        content = None
        headers = {}
        if exchange["method"] != "GET" and body.strip() not in ("", "null"):
            content = body.encode()
            headers["Content-Type"] = exchange["request_content_type"] or "application/json"
        job = JOB.match(path)
        if exchange["method"] == "GET" and job:
            _await_settled(api, job.group(1), exchange["body"])
        response = api.request(
            exchange["method"],
            path + ("?" + query if query else ""),
            content=content,
            headers=headers,
        )
        state.replayed += 1
        if _deleting_again(state, exchange["method"], path, response.status_code):
            continue
        state.mismatches += compare(where, exchange, response)
        if exchange["body"].strip() and response.content.strip():
            with contextlib.suppress(ValueError):  # a non-JSON answer teaches no ids
                state.learn(json.loads(exchange["body"]), response.json())
    return state


def _await_settled(api: httpx.Client, path: str, recorded_body: str) -> None:
    """A recorded read of a finished job (or of its errors) came after the live tenant had
    finished it: the replay awaits the sandbox's job finishing too before it reads."""
    with contextlib.suppress(ValueError, AttributeError):
        recorded = json.loads(recorded_body)
        if isinstance(recorded, list) or recorded.get("status") in SETTLED:
            wait_for(lambda: api.get(path).json().get("status") in SETTLED)


def _deleting_again(state: Replay, method: str, path: str, status: int) -> bool:
    """Auth0 deletes a connection in the background: a DELETE repeated while that runs answers
    202 again, one after it 204 (the definition's two answers; the recordings have both). The
    sandbox deletes at once, so a repeat is always its 204, whichever the live tenant gave."""
    if method != "DELETE" or not path.startswith("/api/v2/connections/"):
        return False
    if path in state.deleted_connections:
        return status == 204
    if status == 202:
        state.deleted_connections.add(path)
    return False


@pytest.fixture(scope="module")
def replay_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    # Recorded searches follow the writes they look for at once: no search lag here.
    server = make_sandbox_server(
        tmp_path_factory.mktemp("replay-sandbox"), users=20, SANDBOX_SEARCH_LAG_SECONDS="0"
    )
    try:
        server.set_faults(rate_limit_plan="off")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def replay_api(replay_sandbox: SandboxServer) -> Iterator[httpx.Client]:
    """One client (and token) for every cassette: a token a cassette is most of its time."""
    with replay_sandbox.api() as api:
        yield api


@pytest.mark.parametrize("name", sorted(CASSETTES))
def test_recorded_exchange_replays(name: str, replay_api: httpx.Client) -> None:
    reason = skipped_cassette(name)
    if reason:
        pytest.skip(reason)
    state = replay(replay_api, name, CASSETTES[name])
    # Every exchange of a cassette not in SKIPPED replays but those on a NOT_EMULATED operation
    # (and those after it on the same user); an unknown id or an unlisted operation fails.
    assert not state.mismatches, "\n".join(state.mismatches)
    assert state.replayed or not CASSETTES[name]


def test_the_replay_covers_every_emulated_operation() -> None:
    """Each emulated operation the recordings hold is replayed by some cassette."""
    recorded = {
        (path, method)
        for path, method in EMULATED
        for exchanges in CASSETTES.values()
        for exchange in exchanges
        if exchange["method"] == method.upper()
        and re.match("^/api/v2" + re.sub(r"\{[a-z_]+\}", "[^/]+", path) + "$", exchange["path"])
    }
    assert len(recorded) >= 8, recorded
    # The writes that make what later exchanges name: without them, those would not replay.
    assert {
        ("/connections", "post"),
        ("/connections/{id}", "patch"),
        ("/connections/{id}", "delete"),
        ("/roles", "post"),
        ("/roles/{id}", "patch"),
        ("/roles/{id}", "delete"),
        ("/resource-servers", "post"),
        ("/resource-servers/{id}", "get"),
        ("/resource-servers/{id}", "delete"),
        ("/users/{id}/identities", "post"),
        ("/users/{id}/identities/{provider}/{user_id}", "delete"),
    } <= recorded
