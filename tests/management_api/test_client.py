"""The Management API client, for what the sandbox cannot produce: faked at httpx's transport.

Retry timing, token sharing across processes and the real endpoints are exercised against
the sandbox server in test_client_sandbox.py.
"""

# ruff: noqa: F811 (test arguments named after the imported fixtures they receive)
from __future__ import annotations

import inspect
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

import management_api
from management_api import PermanentError, TransientError, use_transport
from management_api.http import access_token, http_client, server_delay_seconds
from tests.fixtures.fake_auth0 import (  # noqa: F401 (fixtures)
    BASE,
    SECRET,
    TOKEN,
    FakeTenant,
    fake,
    ok,
    raises,
    status,
    tenant,
)

PAGE = {"start": 0, "limit": 50, "length": 1, "users": [{"user_id": "auth0|1"}], "total": 1}


def test_search_sends_v3_params_and_returns_a_page(fake: Callable[..., FakeTenant]) -> None:
    tenant = fake(ok(PAGE))
    page = management_api.search_users(
        'email:"a@b.c"', page=2, per_page=25, sort="created_at:-1", fields=["user_id", "email"]
    )
    assert page.users == [{"user_id": "auth0|1"}]
    assert page.total == 1
    request = tenant.api_requests[0]
    assert request.url.path == "/api/v2/users"
    assert dict(request.url.params) == {
        "search_engine": "v3",
        "q": 'email:"a@b.c"',
        "page": "2",
        "per_page": "25",
        "include_totals": "true",
        "sort": "created_at:-1",
        "fields": "user_id,email",
        "include_fields": "true",
    }
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["User-Agent"].startswith("Userdesk/")


def test_token_is_fetched_once_for_many_calls(fake: Callable[..., FakeTenant]) -> None:
    tenant = fake(ok(PAGE))
    for n in range(5):
        management_api.search_users(f"name:n{n}")
    assert tenant.token_requests == 1
    body = json.loads(tenant.requests[0].content)
    assert body == {
        "grant_type": "client_credentials",
        "client_id": "client-id",
        "client_secret": SECRET,
        "audience": f"{BASE}/api/v2/",
    }


def _sleeps_in(
    thread: threading.Thread, function: Callable[..., Any], seconds: float = 5.0
) -> bool:
    """Whether `thread` comes to its `time.sleep(` line inside `function` within `seconds`."""
    lines, first = inspect.getsourcelines(function)
    sleep_line = first + next(n for n, line in enumerate(lines) if "time.sleep(" in line)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame = sys._current_frames().get(thread.ident or 0)
        if frame is not None and frame.f_code is function.__code__ and frame.f_lineno == sleep_line:
            return True
        time.sleep(0.005)
    return False


@pytest.mark.parametrize("backend", ["locmem", "file"])
def test_concurrent_callers_share_one_token_fetch(
    backend: str, settings: SettingsWrapper, tmp_path: Path
) -> None:
    if backend == "file":
        # Django's file cache has no atomic add(): the client locks with a file there.
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                "LOCATION": str(tmp_path / "cache"),
            }
        }
    inside, release, second = threading.Event(), threading.Event(), threading.Event()
    token_calls = 0

    def transport(request: httpx.Request) -> httpx.Response:
        nonlocal token_calls
        if request.url.path == "/oauth/token":
            token_calls += 1
            if token_calls == 1:
                inside.set()
                release.wait(5)
            else:
                second.set()
            return httpx.Response(200, json={"access_token": TOKEN, "expires_in": 600})
        return httpx.Response(200, json=PAGE)

    errors: list[BaseException] = []

    def run() -> None:
        try:
            management_api.search_users("name:x")
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    with use_transport(httpx.MockTransport(transport)):
        first = threading.Thread(target=run)
        first.start()
        assert inside.wait(5)
        other = threading.Thread(target=run)
        other.start()
        # The other caller finds the token lock taken and sleeps until the first's result is
        # cached, instead of fetching a second token.
        assert _sleeps_in(other, access_token)
        assert not second.is_set()
        release.set()
        first.join(5)
        other.join(5)
    assert errors == []
    assert token_calls == 1


def test_401_fetches_a_new_token_once(fake: Callable[..., FakeTenant]) -> None:
    expired = status(401, message="Expired token received for JSON Web Token validation")
    tenant = fake(expired, ok(PAGE))
    assert management_api.search_users("").total == 1
    assert tenant.token_requests == 2
    assert len(tenant.api_requests) == 2


def test_second_401_is_a_permanent_error(fake: Callable[..., FakeTenant]) -> None:
    tenant = fake(status(401, message="Invalid token"))
    with pytest.raises(PermanentError) as caught:
        management_api.search_users("")
    assert caught.value.status == 401
    assert caught.value.message == "Invalid token"
    assert tenant.token_requests == 2


def test_rejected_credentials_never_show_the_secret(
    fake: Callable[..., FakeTenant], caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        body = {"error": "invalid_client", "error_description": "Client authentication failed"}
        return httpx.Response(401, json=body)

    caplog.set_level(logging.DEBUG)
    with use_transport(httpx.MockTransport(refuse)), pytest.raises(PermanentError) as caught:
        management_api.search_users("")
    text = f"{caught.value} {caught.value!r} {caught.value.args} {caplog.text}"
    assert "Client authentication failed" in str(caught.value)
    assert caught.value.error_code == "invalid_client"
    assert SECRET not in text


def test_token_never_in_errors_or_logs(
    fake: Callable[..., FakeTenant], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake(status(400, message="Bad query", errorCode="invalid_query_string"))
    with pytest.raises(PermanentError) as caught:
        management_api.search_users("(((")
    assert str(caught.value) == "Bad query"
    assert caught.value.error_code == "invalid_query_string"
    assert caught.value.status == 400
    text = f"{caught.value} {caught.value.args} {caplog.text}"
    assert TOKEN not in text
    assert SECRET not in text


def test_retry_after_then_success(fake: Callable[..., FakeTenant]) -> None:
    tenant = fake(status(429, {"Retry-After": "0"}), status(429, {"Retry-After": "0"}), ok(PAGE))
    assert management_api.search_users("").total == 1
    assert len(tenant.api_requests) == 3


def test_rate_limit_reset_header_is_honoured(fake: Callable[..., FakeTenant]) -> None:
    reset = str(int(time.time()))
    tenant = fake(status(429, {"X-RateLimit-Reset": reset}), ok(PAGE))
    assert management_api.search_users("").total == 1
    assert len(tenant.api_requests) == 2


def test_a_wait_longer_than_the_deadline_gives_up_at_once(fake: Callable[..., FakeTenant]) -> None:
    tenant = fake(
        status(
            429,
            {"Retry-After": "30"},
            message="Global limit has been reached",
            errorCode="too_many_requests",
        )
    )
    with pytest.raises(TransientError) as caught:
        management_api.search_users("")
    assert caught.value.retry_after_seconds == 30
    assert caught.value.error_code == "too_many_requests"
    assert len(tenant.api_requests) == 1


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_server_errors_are_retried(fake: Callable[..., FakeTenant], code: int) -> None:
    tenant = fake(status(code), ok(PAGE))
    assert management_api.search_users("").total == 1
    assert len(tenant.api_requests) == 2


@pytest.mark.parametrize(
    "exc", [httpx.ReadTimeout, httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError]
)
def test_network_failures_are_retried(
    fake: Callable[..., FakeTenant], exc: type[httpx.TransportError]
) -> None:
    tenant = fake(raises(exc), ok(PAGE))
    assert management_api.search_users("").total == 1
    assert len(tenant.api_requests) == 2


def test_retries_are_bounded(fake: Callable[..., FakeTenant], settings: SettingsWrapper) -> None:
    settings.AUTH0_MAX_RETRIES = 2
    tenant = fake(status(503, message="The query exceeded the timeout."))
    with pytest.raises(TransientError) as caught:
        management_api.search_users("")
    assert len(tenant.api_requests) == 3
    assert caught.value.status == 503
    assert caught.value.retry_after_seconds >= 1


def test_the_deadline_bounds_a_call(
    fake: Callable[..., FakeTenant], settings: SettingsWrapper, caplog: pytest.LogCaptureFixture
) -> None:
    settings.AUTH0_MAX_RETRIES = 1000
    settings.AUTH0_DEADLINE_SECONDS = 0.3
    tenant = fake(status(503))
    with caplog.at_level(logging.INFO, logger="management_api"), pytest.raises(TransientError):
        management_api.search_users("")
    # Every retry waited within the deadline, so the retries stop long before the 1,000 allowed:
    # with the backoff capped at 0.05 s (each wait at least half of it), 12 retries at most fit.
    waits = [
        float(r.getMessage().rsplit(" in ", 1)[1].removesuffix("s"))
        for r in caplog.records
        if str(r.msg).endswith("retry %d in %.2fs")
    ]
    assert sum(waits) <= 0.3 + 0.005 * len(waits)  # each logged to the hundredth
    # A wait that ends past the deadline (a loaded machine sleeps longer) is followed by no
    # request: the call gives up before sending it.
    assert len(waits) <= len(tenant.api_requests) <= len(waits) + 1 <= 13


def test_a_post_is_not_repeated_after_a_server_error(fake: Callable[..., FakeTenant]) -> None:
    tenant = fake(status(503))
    with pytest.raises(TransientError):
        management_api.create_users_export({"format": "csv"})
    assert len(tenant.api_requests) == 1


def test_a_post_is_repeated_after_a_429(fake: Callable[..., FakeTenant]) -> None:
    job = {"id": "job_abcdefghijklmnop", "status": "pending", "type": "users_export"}
    tenant = fake(status(429, {"Retry-After": "0"}), ok(job))
    assert management_api.create_users_export({"format": "csv"}) == job
    assert [r.method for r in tenant.api_requests] == ["POST", "POST"]
    assert json.loads(tenant.api_requests[1].content) == {"format": "csv"}


def test_an_import_is_multipart_and_not_repeated_after_a_server_error(
    fake: Callable[..., FakeTenant],
) -> None:
    tenant = fake(status(503))
    with pytest.raises(TransientError):
        management_api.create_users_import(b"[]", connection_id="con_abcdefghijklmnop")
    assert len(tenant.api_requests) == 1

    job = {"id": "job_abcdefghijklmnop", "status": "pending", "type": "users_import"}
    tenant = fake(status(429, {"Retry-After": "0"}), ok(job))
    users = b'[{"email":"a@example.com"}]'
    assert management_api.create_users_import(users, connection_id="con_abcdefghijklmnop") == job
    sent = tenant.api_requests[1]
    assert (sent.method, sent.url.path) == ("POST", "/api/v2/jobs/users-imports")
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    body = sent.content
    assert b'name="connection_id"\r\n\r\ncon_abcdefghijklmnop\r\n' in body
    assert b'name="upsert"\r\n\r\nfalse\r\n' in body
    assert b'name="send_completion_email"\r\n\r\nfalse\r\n' in body
    assert b'name="external_id"' not in body
    assert b'name="users"; filename="users.json"' in body
    assert users in body


def test_job_errors_are_a_list_and_none_is_empty(fake: Callable[..., FakeTenant]) -> None:
    errors = [{"user": {"email": "a@example.com"}, "errors": [{"code": "DUPLICATED_USER"}]}]
    fake(ok(errors))
    assert management_api.get_job_errors("job_abcdefghijklmnop") == errors
    fake(status(204))
    assert management_api.get_job_errors("job_abcdefghijklmnop") == []


def test_missing_user_is_none_and_the_id_is_url_encoded(fake: Callable[..., FakeTenant]) -> None:
    tenant = fake(status(404, message="The user does not exist.", errorCode="inexistent_user"))
    assert management_api.get_user("auth0|abc/def") is None
    assert tenant.api_requests[0].url.raw_path == b"/api/v2/users/auth0%7Cabc%2Fdef"


def test_missing_job_is_none(fake: Callable[..., FakeTenant]) -> None:
    fake(status(404, message="Job not found."))
    assert management_api.get_job("job_abcdefghijklmnop") is None


def test_bodies_parse_in_any_json_encoding(fake: Callable[..., FakeTenant]) -> None:
    user = {"user_id": "auth0|1", "name": "Zoë Ångström", "logins_count": 2**70}
    utf16 = json.dumps([user], ensure_ascii=False).encode("utf-16")
    fake(
        ok([user]),
        lambda request: httpx.Response(
            200, content=utf16, headers={"Content-Type": "application/json; charset=utf-16"}
        ),
    )
    assert management_api.users_by_email("a@example.com") == [user]
    assert management_api.users_by_email("a@example.com") == [user]


def test_a_body_that_is_not_json_is_a_permanent_error(fake: Callable[..., FakeTenant]) -> None:
    fake(lambda request: httpx.Response(200, content=b"<html>gateway</html>"))
    with pytest.raises(PermanentError, match="not JSON"):
        management_api.users_by_email("a@example.com")


def test_users_by_email_passes_the_address_verbatim(fake: Callable[..., FakeTenant]) -> None:
    tenant = fake(ok([{"user_id": "auth0|1"}]))
    assert management_api.users_by_email("Jane+x@Example.com") == [{"user_id": "auth0|1"}]
    assert tenant.api_requests[0].url.params["email"] == "Jane+x@Example.com"


def test_list_connections_pages_through(fake: Callable[..., FakeTenant]) -> None:
    def page(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        size = 100 if number < 2 else 7
        items = [{"id": f"con_{number}_{i}", "name": f"c{number}-{i}"} for i in range(size)]
        return httpx.Response(
            200, json={"total": 207, "start": number * 100, "limit": 100, "connections": items}
        )

    tenant = fake(page)
    assert len(management_api.list_connections()) == 207
    assert [r.url.params["page"] for r in tenant.api_requests] == ["0", "1", "2"]


def test_connections_are_one_cached_list_per_upstream(
    fake: Callable[..., FakeTenant], settings: SettingsWrapper
) -> None:
    """The search filter and the export builder read one list, cached under a key naming the
    upstream: another tenant's base URL or client id never gets this one's connections."""
    settings.CONNECTIONS_CACHE_SECONDS = 60
    listed = [
        {"id": "con_b", "name": "beta", "strategy": "google-oauth2"},
        {"id": "con_a", "name": "Alpha", "strategy": "auth0"},
        {"id": "", "name": "no id"},
        {"id": "con_x", "name": ""},
    ]
    tenant = fake(ok(listed))
    expected = [
        {"id": "con_a", "name": "Alpha", "strategy": "auth0"},
        {"id": "con_b", "name": "beta", "strategy": "google-oauth2"},
    ]
    assert management_api.connections() == expected
    assert management_api.connections() == expected
    assert len(tenant.api_requests) == 1
    settings.AUTH0_BASE_URL = "https://other.example.test"
    management_api.connections()
    settings.AUTH0_CLIENT_ID = "other-client"
    management_api.connections()
    assert len(tenant.api_requests) == 3


def test_download_sends_no_token_and_hides_the_signature(
    fake: Callable[..., FakeTenant], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[httpx.Request] = []

    def files(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.params.get("Signature") == "good":
            return httpx.Response(200, content=b"\x1f\x8b payload")
        return httpx.Response(403, text="<Error>AccessDenied</Error>")

    fake(files)
    url = f"{BASE}/exports/job_x/tenant.csv.gz?Expires=1&Key-Pair-Id=K&Signature="
    with management_api.download(url + "good") as response:
        assert b"".join(response.iter_bytes()) == b"\x1f\x8b payload"
    assert "authorization" not in seen[0].headers
    with pytest.raises(PermanentError) as caught, management_api.download(url + "SECRETSIG"):
        pass
    assert caught.value.status == 403
    assert "SECRETSIG" not in f"{caught.value} {caught.value.args} {caplog.text}"


def test_requests_are_counted(fake: Callable[..., FakeTenant]) -> None:
    fake(ok(PAGE))
    before, by_path = management_api.stats.snapshot()
    management_api.search_users("")
    management_api.search_users("")
    after, by_path_after = management_api.stats.snapshot()
    assert after - before == 2 + (by_path_after["/oauth/token"] - by_path["/oauth/token"])
    assert by_path_after["/api/v2/users"] - by_path["/api/v2/users"] == 2


def test_a_forked_child_builds_its_own_client() -> None:
    parent = http_client()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read)
        os.write(write, b"same" if http_client() is parent else b"own")
        os._exit(0)
    os.close(write)
    answer = os.read(read, 16)
    os.waitpid(pid, 0)
    assert answer == b"own"
    assert http_client() is parent


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "2", "X-RateLimit-Reset": str(int(time.time()) + 50)}, 2.0),
        ({}, None),
    ],
)
def test_server_delay_prefers_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert server_delay_seconds(httpx.Response(429, headers=headers)) == expected


def test_server_delay_reads_http_dates_and_reset_epochs() -> None:
    future = time.time() + 20
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(future))
    by_date = server_delay_seconds(httpx.Response(429, headers={"Retry-After": date}))
    assert by_date is not None
    assert 15 < by_date <= 21
    by_reset = server_delay_seconds(
        httpx.Response(429, headers={"X-RateLimit-Reset": str(int(future))})
    )
    assert by_reset is not None
    assert 15 < by_reset <= 21 * 1.2


def test_calls_inside_a_budget_share_one_deadline(
    fake: Callable[..., FakeTenant], settings: SettingsWrapper
) -> None:
    settings.AUTH0_MAX_RETRIES = 1000
    # A fixed Retry-After instead of jittered backoff: with jitter, what the first call left of
    # the budget could exceed the second call's first backoff (it failed about one run in ten).
    tenant = fake(status(503, {"Retry-After": "0.2"}))
    with management_api.budget(0.5):
        with pytest.raises(TransientError):
            management_api.search_users("")
        spent = len(tenant.api_requests)
        assert spent > 1
        # what is left of the budget (less than one Retry-After) allows one attempt at most
        with pytest.raises(TransientError):
            management_api.users_by_email("a@example.com")
        second = len(tenant.api_requests) - spent
        assert second <= 1
    # outside the budget a call gets its own deadline and retries again
    settings.AUTH0_MAX_RETRIES = 3
    with pytest.raises(TransientError):
        management_api.users_by_email("a@example.com")
    assert len(tenant.api_requests) == spent + second + 4


def test_the_token_request_is_retried_after_a_server_error(settings: SettingsWrapper) -> None:
    calls: list[str] = []

    def tenant(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/oauth/token" and calls.count("/oauth/token") == 1:
            return httpx.Response(503, json={"error": "temporarily_unavailable"})
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": TOKEN, "expires_in": 600})
        return httpx.Response(200, json=PAGE)

    with use_transport(httpx.MockTransport(tenant)):
        assert management_api.search_users("").total == 1
    assert calls == ["/oauth/token", "/oauth/token", "/api/v2/users"]
