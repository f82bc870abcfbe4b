"""Hostile inputs from the security review: each answers a clear message or a 404,
never a 500."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from staff.permissions import EXPORT_ADMIN_GROUP, SUPPORT_GROUP, SUPPORT_LEAD_GROUP
from tests.fixtures.personas import make_staff
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.user_actions import send_verification

pytestmark = pytest.mark.usefixtures("fresh_cache", "use_sandbox")

REASON = "Ticket 20: hostile input"


@pytest.fixture
def staff_client(db: None) -> Client:
    """Every role at once: each URL below is open to it."""
    member = make_staff("all-roles@example.com", SUPPORT_LEAD_GROUP)
    member.groups.add(*Group.objects.filter(name__in=[SUPPORT_GROUP, EXPORT_ADMIN_GROUP]))
    client = Client()
    client.force_login(User.objects.get(pk=member.pk))
    return client


def answered(client: Client, url: str, **params: Any) -> Any:
    response = client.get(url, params)
    assert response.status_code < 500, (url, params, response.status_code)
    return response


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"remove_row": "²"}, 200, ""),
        ({f"c-{'9' * 5000}-field": "x"}, 200, ""),
        # A row as offered, in a URL without the formset's bookkeeping: no condition.
        ({"c-0-field": "email", "c-0-op": "is", "c-0-value": ""}, 200, 'class="details-link"'),
    ],
)
def test_search_inputs(
    staff_client: Client, params: dict[str, str], status: int, says: str
) -> None:
    response = answered(staff_client, "/t/userdesk-sandbox/users/", **params)
    assert response.status_code == status
    assert says in response.content.decode()


@pytest.mark.parametrize(
    ("params", "status"),
    [
        # Not a page Auth0 can show: a 404 that says which pages exist.
        ({"page": "²"}, 404),
        ({"page": "9" * 4301}, 404),
        ({"page": "-1"}, 404),
        ({"until": "2024-13-45T99:99:99"}, 404),
        ({"until": "yesterday"}, 404),
    ],
)
def test_timeline_inputs(
    staff_client: Client, fresh_user: dict[str, Any], params: dict[str, str], status: int
) -> None:
    url = reverse("users_admin:timeline", args=[fresh_user["user_id"]])
    assert answered(staff_client, url, **params).status_code == status


def test_a_malformed_until_is_the_timelines_own_404_saying_which_pages_exist(
    staff_client: Client, fresh_user: dict[str, Any]
) -> None:
    """Not a bare 404 (with DEBUG on, as `make run` has it, Django's technical page)."""
    url = reverse("users_admin:timeline", args=[fresh_user["user_id"]])
    response = answered(staff_client, url, until="2024-13-45T99:99:99")
    assert response.status_code == 404
    assert "users_admin/timeline.html" in [t.name for t in response.templates]
    assert "There is no timeline point “2024-13-45T99" in response.content.decode()


def test_a_page_number_of_4300_digits_is_quoted_short(
    staff_client: Client, fresh_user: dict[str, Any]
) -> None:
    """The 404 names the page asked for, shortened: whole, it widened the page to 44,000 px."""
    url = reverse("users_admin:timeline", args=[fresh_user["user_id"]])
    page = answered(staff_client, url, page="9" * 4301).content.decode()
    assert "There is no timeline page “99999" in page
    assert "9" * 100 not in page


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("/t/userdesk-sandbox/exports/", {"q": "²"}),
    ],
)
def test_export_inputs(staff_client: Client, url: str, params: dict[str, str]) -> None:
    assert answered(staff_client, url, **params).status_code in {200, 404}


@pytest.mark.parametrize(
    "params",
    [{"template": "²"}, {"rerun": "²"}, {"template": "9" * 30}, {"rerun": "9" * 4301}],
)
def test_a_template_or_rerun_that_is_not_there_is_not_found(
    staff_client: Client, params: dict[str, str]
) -> None:
    """Not a builder that opens empty as if the address had named nothing."""
    assert answered(staff_client, "/t/userdesk-sandbox/exports/new/", **params).status_code == 404


@pytest.mark.parametrize("fails", [False, True])  # the job completes, or fails
def test_a_verification_job_with_a_line_break_for_user(
    staff_client: Client, fresh_user: dict[str, Any], use_sandbox: SandboxServer, fails: bool
) -> None:
    if fails:
        use_sandbox.set_faults(email_template_disabled=True)
    # A job page is its sender's: the job is sent through the user page.
    job_id = send_verification(staff_client, fresh_user["user_id"])
    url = reverse("users_admin:verification_job", args=[job_id])
    for _ in range(20):
        response = answered(staff_client, url, user="\r\n")
        if "pending" not in response.content.decode():
            break
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ('{"a":' * 2000 + "1" + "}" * 2000, "nested"),
        ('{"\\ud800": 1}', "not valid"),
    ],
)
def test_metadata_editor_inputs(
    staff_client: Client,
    fresh_user: dict[str, Any],
    use_sandbox: SandboxServer,
    document: str,
    says: str,
) -> None:
    url = reverse("users_admin:action", args=["edit-metadata", fresh_user["user_id"]])
    for stage in ("preview", "save"):
        response = staff_client.post(
            url,
            {
                "token": str(uuid.uuid4()),
                "reason": REASON,
                "which": "user_metadata",
                "document": document,
                "stage": stage,
            },
        )
        assert response.status_code == 200, response.status_code
        assert says in response.content.decode()
    with use_sandbox.api() as api:
        profile = api.get(f"/api/v2/users/{fresh_user['user_id']}").json()
    assert profile["user_metadata"] == {"theme": "dark", "lang": "en"}
