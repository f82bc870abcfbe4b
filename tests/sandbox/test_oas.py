"""Auth0's own Management API definition as oracle: schemathesis fuzzes each emulated operation.

`sandbox/oas/emulated.yml` (cut from Auth0's definition by `sandbox/oas/extract.py`) drives
property-based requests at a running sandbox server; each answer must not be a 5xx, must have a
status code the definition allows, and a content type and body matching its schemas. Where real
Auth0 is known to differ from its definition, `tests/sandbox/oas_deviations.py` says so, with
evidence.

Bounded and repeatable: `MAX_EXAMPLES` an operation, derandomized (the same requests every run),
no deadline. The server is one of its own (seeded like `sandbox_server`), because the fuzzer
creates and changes users that other tests count.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sandbox.oas.extract import EMULATED, OUTPUT
from sandbox.seed import CONNECTIONS, DATABASE_CONNECTION, generate_users
from sandbox.seed_access import API_ID, ORGANIZATIONS, catalogue_roles, org_id
from tests.fixtures.sandbox import SEED, SandboxServer, make_sandbox_server
from tests.sandbox.oas_deviations import apply_all

MAX_EXAMPLES = 15
FUZZ_USERS = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _definition() -> dict[str, Any]:
    return apply_all(yaml.safe_load(Path(OUTPUT).read_text(encoding="utf-8")))


schema = schemathesis.openapi.from_dict(_definition())
# Ids the server has, so operations on `/users/{id}` also reach users that exist.
KNOWN_USER_IDS = [profile["user_id"] for profile in generate_users(FUZZ_USERS, SEED)]
known_job_ids: list[str] = []
KNOWN_IDS = (
    ("/users/", KNOWN_USER_IDS),
    ("/user-blocks/", KNOWN_USER_IDS),
    ("/connections/", [connection[0] for connection in CONNECTIONS]),
    ("/jobs/", known_job_ids),
    ("/organizations/", [org_id(name) for name, _, _ in ORGANIZATIONS]),
    ("/roles/", [role[0] for role in catalogue_roles()]),
    ("/resource-servers/", [API_ID]),
)
# Changing or deleting what the seeded tenant holds would leave the operations after it only
# their 404s: these are fuzzed on unknown ids only (their successes: the go-auth0 replay and
# tests/sandbox/test_connections_create.py, test_access.py).
UNKNOWN_IDS_ONLY = frozenset(
    {
        "DELETE /users/{id}",
        "PATCH /connections/{id}",
        "DELETE /connections/{id}",
        "PATCH /roles/{id}",
        "DELETE /roles/{id}",
        "DELETE /resource-servers/{id}",
    }
)
# Status codes seen per operation: a fuzzer that only ever met 4xx would prove little. Except
# where success needs what it cannot guess (a session or MFA method id, an Enterprise plan, a
# user with a blocked IP or an unverified address), every operation must have met a 2xx.
statuses: defaultdict[str, set[int]] = defaultdict(set)
SUCCESS_NOT_REQUIRED = frozenset(
    {
        "GET /users/{id}/authentication-methods/{authentication_method_id}",
        "DELETE /users/{id}/authentication-methods/{authentication_method_id}",
        "GET /users/{user_id}/sessions",
        "DELETE /users/{user_id}/sessions",
        "GET /users/{user_id}/refresh-tokens",
        "DELETE /users/{user_id}/refresh-tokens",
        "GET /sessions/{id}",
        "POST /sessions/{id}/revoke",
        "DELETE /user-blocks/{id}",
        "POST /users/{id}/multifactor/actions/invalidate-remember-browser",
        "POST /jobs/verification-email",
        "POST /tickets/password-change",
        # A refresh token's id, role ids, permissions and member ids in a body: not guessable.
        "GET /refresh-tokens/{id}",
        "POST /users/{id}/roles",
        "DELETE /users/{id}/roles",
        "POST /users/{id}/permissions",
        "DELETE /users/{id}/permissions",
        "POST /organizations/{id}/members",
        "POST /organizations/{id}/members/{user_id}/roles",
        "DELETE /organizations/{id}/members/{user_id}/roles",
        # Two users Auth0 would link are not guessable (the go-auth0 replay links and unlinks).
        "POST /users/{id}/identities",
        "DELETE /users/{id}/identities/{provider}/{user_id}",
        # On unknown ids only (UNKNOWN_IDS_ONLY).
        "PATCH /connections/{id}",
        "PATCH /roles/{id}",
        "DELETE /roles/{id}",
    }
)


@schema.hook("flatmap_path_parameters")
def _existing_ids_too(context: Any, path_parameters: dict[str, Any]) -> Any:
    path = context.operation.path
    if context.operation.label in UNKNOWN_IDS_ONLY:
        # An empty id or one of dots ("..", collapsed by the client) names another URL, which
        # answers the unrouted 404 these operations' definitions do not list.
        return st.just(
            {
                name: value if str(value).strip(".") else "unknown-id"
                for name, value in path_parameters.items()
            }
        )
    if path == "/organizations/{id}/members/{user_id}/roles":
        organizations = next(ids for prefix, ids in KNOWN_IDS if prefix == "/organizations/")
        return st.one_of(
            st.just(path_parameters),
            st.tuples(st.sampled_from(organizations), st.sampled_from(KNOWN_USER_IDS)).map(
                lambda pair: {**path_parameters, "id": pair[0], "user_id": pair[1]}
            ),
        )
    name = "user_id" if "{user_id}" in path else "id"
    known = next((ids for prefix, ids in KNOWN_IDS if path.startswith(prefix)), [])
    if not path_parameters or name not in path_parameters or not known:
        return st.just(path_parameters)
    return st.one_of(
        st.just(path_parameters),
        st.sampled_from(known).map(lambda value: {**path_parameters, name: value}),
    )


@schema.hook("flatmap_body")
def _creatable_users_too(context: Any, body: Any) -> Any:
    """Random connection names are all unknown, random passwords mostly short: also aim
    creations at the database connection with a password it takes and a fresh address."""
    if context.operation.label != "POST /users" or not isinstance(body, dict):
        return st.just(body)
    creatable = st.integers(0, 10**9).map(
        lambda n: {
            **body,
            "connection": DATABASE_CONNECTION,
            "email": f"fuzz{n}@example.com",
            "password": "long enough",
        }
    )
    return st.one_of(st.just(body), creatable)


@schema.hook("flatmap_body")
def _importable_files_too(context: Any, body: Any) -> Any:
    """Random connection ids never exist and random files are rarely JSON arrays: also aim
    imports at the database connection with a one-user file (sometimes a user that exists)."""
    if context.operation.label != "POST /jobs/users-imports" or not isinstance(body, dict):
        return st.just(body)
    database_id = next(c[0] for c in CONNECTIONS if c[1] == DATABASE_CONNECTION)
    importable = st.integers(0, 10**9).map(
        lambda n: {
            **body,
            "connection_id": database_id,
            "users": f'[{{"email": "fuzzimport{n % 50}@example.com"}}]'.encode(),
        }
    )
    return st.one_of(st.just(body), importable)


@pytest.fixture(scope="module")
def fuzzed_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    server = make_sandbox_server(tmp_path_factory.mktemp("fuzzed-sandbox"), users=FUZZ_USERS)
    try:
        server.set_faults(rate_limit_plan="off")
        with server.api() as api:
            job = api.post("/api/v2/jobs/users-exports", json={"format": "json", "limit": 3})
            known_job_ids.append(job.json()["id"])
            # An import with a per-user error, so /jobs/{id}/errors also answers its 200.
            database_id = next(c[0] for c in CONNECTIONS if c[1] == DATABASE_CONNECTION)
            job = api.post(
                "/api/v2/jobs/users-imports",
                data={"connection_id": database_id},
                files={"users": ("users.json", b'[{"email": "x"}]', "application/json")},
            )
            known_job_ids.append(job.json()["id"])
        yield server
    finally:
        server.stop()
    never_succeeded = sorted(
        label
        for label, seen in statuses.items()
        if min(seen) >= 300 and label not in SUCCESS_NOT_REQUIRED
    )
    assert not never_succeeded, f"no 2xx answer at all: {never_succeeded} ({dict(statuses)})"


@pytest.fixture(scope="module")
def bearer(fuzzed_sandbox: SandboxServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {fuzzed_sandbox.token()}"}


def test_the_cut_holds_every_emulated_operation() -> None:
    definition = _definition()
    cut = {
        (path, method)
        for path, item in definition["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert cut == set(EMULATED), "rerun sandbox/oas/extract.py after changing EMULATED"
    assert Path(OUTPUT).read_text(encoding="utf-8").startswith("# GENERATED by")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)
def test_sandbox_answers_as_the_definition_says(
    case: schemathesis.Case, fuzzed_sandbox: SandboxServer, bearer: dict[str, str]
) -> None:
    response = case.call(base_url=f"{fuzzed_sandbox.base_url}/api/v2", headers=bearer)
    statuses[case.operation.label].add(response.status_code)
    case.validate_response(response, checks=CHECKS)
