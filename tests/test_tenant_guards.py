"""Guard rails: on a production tenant a destructive action also asks for
the tenant's name, typed; a form posted from one tenant's page is refused on another's."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

import pytest
from django import forms
from django.contrib.auth.models import User
from django.test import Client

from management_api import Tenant, tenant_scope
from staff.models import AuditEvent
from tests import test_tenants
from tests.test_bulk_approval import previewed
from users_admin.action_forms import TENANT_NAME_FIELD, ask_tenant_name
from users_admin.actions import ACTIONS
from users_admin.models import BulkRunStatus

staging_server = test_tenants.staging_server
two_tenants = test_tenants.two_tenants


@pytest.fixture
def prod_user(fresh_user: dict[str, Any], two_tenants: tuple[Tenant, Tenant]) -> str:
    """A user of the production tenant ("prod" is the sandbox server fresh_user writes to)."""
    return str(fresh_user["user_id"])


def delete_post(user_id: str, **extra: str) -> dict[str, str]:
    return {
        "reason": "Ticket 42: asked to be forgotten",
        "token": str(uuid.uuid4()),
        "confirm": user_id,
        "user_id": user_id,
        **extra,
    }


def test_deleting_on_production_asks_for_the_tenant_name(
    prod_user: str, lead_client: Client, settings: Any
) -> None:
    settings.USERDESK_ALLOW_USER_DELETE = True
    url = f"/t/prod/actions/delete/{quote(prod_user, safe='')}/"
    form = lead_client.get(url).content.decode()
    assert f'name="{TENANT_NAME_FIELD}"' in form
    assert "Type the tenant&#x27;s name, Prod, to confirm" in form

    refused = lead_client.post(url, delete_post(prod_user), HTTP_HX_REQUEST="true")
    assert "Type Prod to confirm, on production." in refused.content.decode()
    wrong = lead_client.post(url, delete_post(prod_user, tenant_name="Staging"))
    assert "exactly: this is production" in wrong.content.decode()
    assert not AuditEvent.objects.filter(action="users.delete").exists()

    done = lead_client.post(url, delete_post(prod_user, tenant_name="Prod"))
    assert done.status_code in (200, 302)
    assert AuditEvent.objects.filter(action="users.delete", target=prod_user).exists()


def test_the_guard_is_declared_on_destructive_actions_and_asks_only_on_production(
    two_tenants: tuple[Tenant, Tenant],
) -> None:
    guarded = sorted(name for name, action in ACTIONS.items() if action.confirm_tenant)
    assert guarded == ["clear-blocks", "delete", "remove-mfa"]
    for slug, asked in (("prod", True), ("staging", False)):
        with tenant_scope(slug):
            form = ask_tenant_name(forms.Form())
        assert (TENANT_NAME_FIELD in form.fields) is asked


def test_a_form_from_another_tenants_page_is_refused(
    two_tenants: tuple[Tenant, Tenant], lead_client: Client
) -> None:
    url = "/t/prod/searches/save/"
    refused = lead_client.post(url, {"name": "Mine", "query_string": "q=a", "tenant": "staging"})
    assert refused.status_code == 403
    assert "filled in on the tenant &#x27;staging&#x27;" in refused.content.decode()
    header = lead_client.post(url, {"name": "Mine"}, HTTP_X_USERDESK_TENANT="staging")
    assert header.status_code == 403
    same = lead_client.post(url, {"name": "Mine", "query_string": "q=a", "tenant": "prod"})
    assert same.status_code != 403


def test_every_post_form_of_a_tenant_page_carries_its_tenant(
    two_tenants: tuple[Tenant, Tenant], lead_client: Client, support_lead: User
) -> None:
    page = lead_client.get("/t/staging/users/", {"q": "email:*"}).content.decode()
    assert '<input type="hidden" name="tenant" value="staging">' in page
    assert '"X-Userdesk-Tenant": "staging"' in page


def test_starting_a_bulk_run_on_production_asks_for_the_tenant_name(
    two_tenants: tuple[Tenant, Tenant], lead_client: Client, settings: Any
) -> None:
    settings.BULK_APPROVAL_THRESHOLD = 100
    with tenant_scope("prod"):
        run = previewed(2)
    url = f"/t/prod/bulk/{run.pk}/"
    assert f'name="{TENANT_NAME_FIELD}"' in lead_client.get(url).content.decode()

    refused = lead_client.post(f"{url}request/")
    assert refused.status_code == 400
    assert "Type Prod to confirm, on production." in refused.content.decode()
    run.refresh_from_db()
    assert run.status == BulkRunStatus.PREVIEWED

    assert lead_client.post(f"{url}request/", {TENANT_NAME_FIELD: "Prod"}).status_code == 302
    run.refresh_from_db()
    assert run.status == BulkRunStatus.QUEUED
    # Staging asks for nothing more.
    with tenant_scope("staging"):
        other = previewed(2)
    assert lead_client.post(f"/t/staging/bulk/{other.pk}/request/").status_code == 302
