"""Every page knows its tenant: the tenant in the URL, today's URLs
redirected or a chooser, the switcher, the band, and the tenant in exports, emails and the
audit log. Two sandbox tenants run as real HTTP servers (tests/fixtures/tenants.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client

import management_api
from config.settings import TENANT_DEFAULT_COLOURS
from config.tenant_colours import (
    DARK_TEXT,
    LIGHT_TEXT,
    MIN_CONTRAST,
    band_colours,
    contrast,
    text_colour,
)
from exports import downloads, tasks
from exports.models import Status
from management_api import Tenant, tenant_scope
from staff.models import AuditEvent
from tests.fixtures.celery import CSV_SPEC, drive
from users_admin.models import SavedSearch

T = "/t/userdesk-sandbox"


# --- One tenant: today's URLs redirect --------------------------------------------------------


def test_todays_urls_redirect_to_the_one_tenant(agent_client: Client) -> None:
    response = agent_client.get("/users/", {"q": "email:a*"})
    assert response.status_code == 302
    assert response["Location"] == f"{T}/users/?q=email%3Aa%2A"
    assert agent_client.get("/users/auth0%7C123/")["Location"] == f"{T}/users/auth0%7C123/"
    # A POST from a tab opened before tenants stays a POST (307), to the same tenant.
    posted = agent_client.post("/searches/save/", {"name": "x"})
    assert (posted.status_code, posted["Location"]) == (307, f"{T}/searches/save/")
    assert agent_client.get("/")["Location"] == f"{T}/users/"
    assert agent_client.get(f"{T}/")["Location"] == f"{T}/users/"


def test_an_unknown_tenant_or_page_is_a_404(agent_client: Client) -> None:
    assert agent_client.get("/t/nowhere/users/").status_code == 404
    assert agent_client.get("/no-such-page/").status_code == 404
    assert agent_client.get(f"{T}/no-such-page/").status_code == 404
    # Signed out, a tenant page asks for a sign-in (its URL kept), an unknown address doesn't.
    assert Client().get("/users/")["Location"] == "/sign-in/?next=/users/"
    assert Client().get("/no-such-page/").status_code == 404


def test_every_page_shows_its_tenant_and_environment(agent_client: Client) -> None:
    html = agent_client.get(f"{T}/lookup/").content.decode()
    assert 'class="tenant-band tenant-userdesk-sandbox"' in html
    assert "DEVELOPMENT" in html
    assert "PRODUCTION" not in html
    assert "tenant-switch" not in html  # one tenant: nothing to switch to
    assert f'href="{T}/users/"' in html  # the top bar's links stay in the tenant


# --- Two tenants: a chooser, the switcher, the band -------------------------------------------


def test_with_two_tenants_todays_urls_offer_a_chooser(
    two_tenants: tuple[Tenant, Tenant], agent_client: Client
) -> None:
    page = agent_client.get("/users/", {"q": "x"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'href="/t/prod/users/?q=x"' in html
    assert 'href="/t/staging/users/?q=x"' in html
    home = agent_client.get("/").content.decode()
    assert 'href="/t/prod/"' in home
    assert 'href="/t/staging/"' in home


def test_the_switcher_keeps_the_page_kind_and_the_band_marks_production(
    two_tenants: tuple[Tenant, Tenant], admin_client_: Client
) -> None:
    staging = admin_client_.get("/t/staging/lookup/").content.decode()
    assert 'class="tenant-band tenant-staging"' in staging
    assert '<span class="tenant-env">STAGING</span>' in staging
    assert "tenant-staging production" not in staging
    assert 'href="/t/prod/lookup/"' in staging  # the switcher: lookup on staging -> on prod
    prod = admin_client_.get("/t/prod/exports/").content.decode()
    assert 'class="tenant-band tenant-prod production"' in prod
    assert "PRODUCTION" in prod
    assert 'href="/t/staging/exports/"' in prod
    # A page about one thing (a user) switches to the same kind's list.
    detail = admin_client_.get("/t/staging/users/auth0%7Cnobody/")
    assert 'href="/t/prod/users/"' in detail.content.decode()


def test_tenant_colours_stylesheet_gives_each_tenant_readable_text(
    two_tenants: tuple[Tenant, Tenant],
) -> None:
    css = Client().get("/tenants.css")
    assert css["Content-Type"].startswith("text/css")
    body = css.content.decode()
    for tenant in two_tenants:
        assert f".tenant-{tenant.slug} {{" in body
        assert f"background: {tenant.colour};" in body


@pytest.mark.parametrize(
    "colour", [*TENANT_DEFAULT_COLOURS.values(), "#ffff00", "#777777", "#abc", "#000", "#fff"]
)
def test_the_text_on_a_tenant_colour_reaches_aa_contrast(colour: str) -> None:
    background, text = band_colours(colour)
    assert text in (LIGHT_TEXT, DARK_TEXT)
    assert contrast(text, background) >= MIN_CONTRAST
    if contrast(text_colour(colour), colour) >= MIN_CONTRAST:
        assert background == colour  # kept as configured when it reads


# --- Exports, emails, audit rows ------------------------------------------------------------


def test_an_export_names_its_tenant_in_file_email_and_link(
    two_tenants: tuple[Tenant, Tenant], export_admin: User, admin_client_: Client, settings: Any
) -> None:
    settings.USERDESK_BASE_URL = "https://userdesk.example.com"
    settings.EXPORT_NOTIFY = True
    with tenant_scope("staging"):
        export = tasks.create_export({**CSV_SPEC, "limit": 5}, requested_by=export_admin)
    done = drive(export.pk)
    assert done.status == Status.READY, done.failure_reason
    assert downloads.filename(done, "original").startswith(f"userdesk-export-{done.pk}-staging-")
    sent = mail.outbox[-1]
    assert sent.subject.startswith("[staging] ")
    assert f"https://userdesk.example.com/t/staging/exports/{done.pk}/" in sent.body
    assert "on Staging, CSV" in sent.body  # its name says its slug and environment
    # Its page is the staging tenant's; under production it does not exist.
    assert admin_client_.get(f"/t/staging/exports/{done.pk}/").status_code == 200
    assert admin_client_.get(f"/t/prod/exports/{done.pk}/").status_code == 404


def test_the_audit_log_shows_and_filters_by_tenant(
    two_tenants: tuple[Tenant, Tenant], admin_client_: Client
) -> None:
    AuditEvent.objects.create(action="users.view", target="auth0|p", tenant="prod")
    AuditEvent.objects.create(action="users.view", target="auth0|s", tenant="staging")
    every = admin_client_.get("/t/staging/audit/").content.decode()
    assert "auth0|p" in every
    assert "auth0|s" in every
    assert 'data-label="Tenant"' in every
    only = admin_client_.get("/t/staging/audit/", {"tenant": "prod"}).content.decode()
    assert "auth0|p" in only
    assert "auth0|s" not in only


def test_the_one_tenant_audit_log_has_no_tenant_column(admin_client_: Client) -> None:
    html = admin_client_.get(f"{T}/audit/").content.decode()
    assert 'data-label="Tenant"' not in html
    assert 'name="tenant"' not in html


# --- The email lookup across tenants ----------------------------------------------------------


def test_the_lookup_asks_every_tenant_and_labels_each_answer(
    two_tenants: tuple[Tenant, Tenant], agent_client: Client
) -> None:
    # Each sandbox tenant has its own seeded users; one address of each.
    addresses = {}
    for slug in ("prod", "staging"):
        with tenant_scope(slug):
            addresses[slug] = management_api.search_users("", per_page=1).users[0]["email"]
    assert 'name="every_tenant"' in agent_client.get("/t/staging/lookup/").content.decode()

    page = agent_client.get(
        "/t/staging/lookup/", {"email": addresses["prod"], "every_tenant": "on"}
    ).content.decode()
    prod_part, staging_part = page.split('id="tenant-lookup-staging"')
    assert 'id="tenant-lookup-prod"' in prod_part
    assert "/t/prod/users/" in prod_part  # the user's page on the tenant that has them
    assert "No user on Staging has this address" in staging_part
    event = AuditEvent.objects.filter(action="users.lookup").latest("at")
    assert event.details["tenants"].startswith("prod: 1")
    assert event.details["tenants"].endswith("staging: 0")


def test_one_searchable_tenant_offers_no_lookup_across(agent_client: Client) -> None:
    assert 'name="every_tenant"' not in agent_client.get(f"{T}/lookup/").content.decode()


def test_saved_searches_and_the_way_back_stay_in_their_tenant(
    two_tenants: tuple[Tenant, Tenant], agent_client: Client, support_agent: User
) -> None:
    with tenant_scope("staging"):
        saved = SavedSearch.objects.create(owner=support_agent, name="Mine", query_string="q=a")
        user_id = management_api.search_users("", per_page=1).users[0]["user_id"]
    assert saved.url == "/t/staging/users/?q=a"
    page = agent_client.get(f"/t/staging/users/{user_id}/", {"from": "q=a"}).content.decode()
    assert 'href="/t/staging/users/?q=a"' in page
