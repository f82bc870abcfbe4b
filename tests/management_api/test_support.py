"""The support-action client functions where the sandbox cannot reach: faked at the transport.

What each POST does after a read timeout, a 5xx or a 429 decides whether a person gets two
emails; the sandbox cannot time out a request after acting on it, so these are faked here.
"""

# ruff: noqa: F811 (test arguments named after the imported fixtures they receive)
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import management_api
from management_api import PermanentError, TransientError
from tests.fixtures.fake_auth0 import FakeTenant, fake, ok, raises, status, tenant  # noqa: F401 (fixtures)


def created(body: dict[str, Any]) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(201, json=body)


JOB = {"type": "verification_email", "status": "pending", "id": "job_abcdefghijklmnop"}


def test_a_verification_email_that_timed_out_is_not_sent_again(
    fake: Callable[..., FakeTenant],
) -> None:
    tenant = fake(raises(httpx.ReadTimeout), created(JOB))
    with pytest.raises(TransientError):
        management_api.send_verification_email("auth0|1")
    assert len(tenant.api_requests) == 1


def test_a_verification_email_refused_with_429_is_retried(
    fake: Callable[..., FakeTenant],
) -> None:
    tenant = fake(status(429, headers={"Retry-After": "0"}), created(JOB))
    assert management_api.send_verification_email("auth0|1")["id"] == JOB["id"]
    assert len(tenant.api_requests) == 2
    assert json.loads(tenant.api_requests[1].content) == {"user_id": "auth0|1"}


def test_a_ticket_is_not_requested_again_after_a_500(fake: Callable[..., FakeTenant]) -> None:
    tenant = fake(status(500), created({"ticket": "https://t/u/reset-password?ticket=x#"}))
    with pytest.raises(TransientError):
        management_api.create_password_change_ticket("auth0|1")
    assert len(tenant.api_requests) == 1


def test_a_ticket_request_that_never_connected_is_sent_again(
    fake: Callable[..., FakeTenant],
) -> None:
    ticket = "https://t/u/reset-password?ticket=abc#"
    tenant = fake(raises(httpx.ConnectError), created({"ticket": ticket}))
    assert management_api.create_password_change_ticket("auth0|1", ttl_sec=600) == ticket
    assert len(tenant.api_requests) == 2
    assert json.loads(tenant.api_requests[1].content)["ttl_sec"] == 600


def test_a_reset_email_is_sent_without_a_token_and_not_repeated(
    fake: Callable[..., FakeTenant],
) -> None:
    tenant = fake(raises(httpx.ReadTimeout))
    with pytest.raises(TransientError):
        management_api.send_password_reset_email(
            "a@example.com", "Username-Password-Authentication"
        )
    assert len(tenant.api_requests) == 1
    request = tenant.api_requests[0]
    assert request.url.path == "/dbconnections/change_password"
    assert "authorization" not in request.headers
    assert json.loads(request.content) == {
        "client_id": "client-id",
        "email": "a@example.com",
        "connection": "Username-Password-Authentication",
    }


def test_the_reset_email_answer_is_auth0s_sentence(fake: Callable[..., FakeTenant]) -> None:
    sentence = "We've just sent you an email to reset your password."
    fake(lambda request: httpx.Response(200, text=sentence, headers={"content-type": "text/html"}))
    assert management_api.send_password_reset_email("a@b.c", "db") == sentence


@pytest.mark.parametrize(
    "call",
    [
        lambda: management_api.update_user("auth0|1", {"blocked": True}),
        lambda: management_api.invalidate_remember_browser("auth0|1"),
        lambda: management_api.clear_user_blocks("auth0|1"),
        lambda: management_api.delete_authentication_methods("auth0|1"),
    ],
    ids=["patch", "invalidate-remember-browser", "delete-blocks", "delete-mfa"],
)
def test_idempotent_writes_are_repeated_after_a_timeout(
    fake: Callable[..., FakeTenant], call: Callable[[], Any]
) -> None:
    tenant = fake(raises(httpx.ReadTimeout), ok({"user_id": "auth0|1", "blocked": True}))
    call()
    assert len(tenant.api_requests) == 2


def test_auth0s_refusal_carries_its_message_and_code(fake: Callable[..., FakeTenant]) -> None:
    fake(
        status(
            400,
            statusCode=400,
            error="Bad Request",
            message="The user's main connection does not support this operation.",
            errorCode="operation_not_supported",
        )
    )
    with pytest.raises(PermanentError) as caught:
        management_api.create_password_change_ticket("github|1")
    assert str(caught.value) == "The user's main connection does not support this operation."
    assert caught.value.error_code == "operation_not_supported"


def test_blocks_of_an_unknown_user_are_none(fake: Callable[..., FakeTenant]) -> None:
    fake(status(404, message="User not found.", errorCode="inexistent_user"))
    assert management_api.user_blocks("auth0|nobody") is None


def test_ids_are_encoded_in_every_path(fake: Callable[..., FakeTenant]) -> None:
    tenant = fake(lambda request: httpx.Response(204))
    management_api.delete_authentication_method("auth0|a/b", "totp|dev_X")
    assert tenant.api_requests[0].url.raw_path == (
        b"/api/v2/users/auth0%7Ca%2Fb/authentication-methods/totp%7Cdev_X"
    )


def test_methods_page_through_the_wrapper(fake: Callable[..., FakeTenant]) -> None:
    first = [{"id": f"totp|dev_{i:016d}", "type": "totp"} for i in range(100)]
    tenant = fake(
        ok({"authenticators": first, "start": 0, "limit": 100, "total": 101}),
        ok({"authenticators": [{"id": "email|dev_x", "type": "email"}], "start": 100}),
    )
    methods = management_api.authentication_methods("auth0|1")
    assert methods is not None
    assert len(methods) == 101
    assert [r.url.params["page"] for r in tenant.api_requests] == ["0", "1"]


def test_logs_read_one_page_newest_first(fake: Callable[..., FakeTenant]) -> None:
    tenant = fake(ok({"start": 0, "limit": 50, "length": 1, "total": 1, "logs": [{"type": "s"}]}))
    page = management_api.user_logs("auth0|1", page=2)
    assert page.events == [{"type": "s"}]
    assert not page.has_next
    params = tenant.api_requests[0].url.params
    assert (params["page"], params["per_page"], params["sort"]) == ("2", "50", "date:-1")


def test_concurrent_calls_overlap_and_keep_their_errors(fake: Callable[..., FakeTenant]) -> None:
    arrived = threading.Barrier(3, timeout=5)

    def handler(request: httpx.Request) -> httpx.Response:
        arrived.wait()  # only returns once all three requests are in flight together
        if request.url.path.endswith("/logs"):
            return httpx.Response(400, json={"message": "bad", "errorCode": "x"})
        return httpx.Response(200, json={"user_id": "auth0|1", "blocked_for": []})

    fake(handler)
    results = management_api.concurrently(
        {
            "profile": lambda: management_api.get_user("auth0|1"),
            "blocks": lambda: management_api.user_blocks("auth0|1"),
            "logs": lambda: management_api.user_logs("auth0|1"),
        }
    )
    assert results["profile"].ok
    assert (results["profile"].value or {})["user_id"] == "auth0|1"
    assert results["blocks"].value == []
    assert isinstance(results["logs"].error, PermanentError)


def test_the_callers_own_work_runs_in_its_thread_while_the_calls_are_out(
    fake: Callable[..., FakeTenant],
) -> None:
    started = threading.Event()
    meanwhile_done = threading.Event()
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        started.set()
        # The answer waits for the caller's own work: it must run before the results are awaited.
        assert meanwhile_done.wait(timeout=5)
        return httpx.Response(200, json={"user_id": "auth0|1"})

    def meanwhile() -> None:
        assert started.wait(timeout=5)
        seen.append(threading.get_ident())
        meanwhile_done.set()

    fake(handler)
    results = management_api.concurrently(
        {"profile": lambda: management_api.get_user("auth0|1")}, meanwhile=meanwhile
    )
    assert seen == [threading.get_ident()]
    assert (results["profile"].value or {})["user_id"] == "auth0|1"
