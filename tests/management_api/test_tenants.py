"""The tenant seam: configuration, the scope every Management API call runs
in, and isolation between two sandbox tenants served as real HTTP servers."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

import management_api
from config import settings as product
from exports import tasks
from exports.models import Export, ExportTemplate, Status
from management_api import NoTenantChosen, Tenant, UnknownTenant, tenant_scope
from management_api.http import _token_cache_key
from management_api.tenants import named_tenant
from staff import audit
from staff.models import AuditEvent
from tests.fixtures.celery import CSV_SPEC, drive
from tests.fixtures.processes import embedded_env, manage, production_env, python
from tests.fixtures.sandbox import SandboxServer
from tests.fixtures.tenants import STAGING_USERS, entry
from users_admin import saved, search, timeline
from users_admin.models import ActionRequest, RecentSearch, SavedSearch, submitted

# --- Configuration: AUTH0_TENANTS ------------------------------------------------------------


def tenant_env(monkeypatch: pytest.MonkeyPatch, slug: str, **fields: str) -> None:
    prefix = f"AUTH0_TENANT_{slug.upper().replace('-', '_')}_"
    for name, value in fields.items():
        monkeypatch.setenv(prefix + name, value)


GOOD = {
    "DOMAIN": "acme-eu.eu.auth0.com",
    "CLIENT_ID": "id-eu",
    "CLIENT_SECRET": "secret-eu",
    "ENVIRONMENT": "production",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (*product._SINGLE_TENANT_VARIABLES, "AUTH0_TENANTS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_tenants_are_read_with_defaults_per_environment_and_plan(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret_file = tmp_path / "staging-secret"
    secret_file.write_text("from-a-file\n")
    clean_env.setenv("AUTH0_TENANTS", "production-eu, staging")
    tenant_env(clean_env, "production-eu", **GOOD, NAME="Production EU", PLAN="enterprise")
    tenant_env(
        clean_env,
        "staging",
        DOMAIN="acme-staging.us.auth0.com",
        CLIENT_ID="id-st",
        CLIENT_SECRET_FILE=str(secret_file),
        ENVIRONMENT="Staging",
        BASE_URL="http://127.0.0.1:8002/",
        COLOUR="#ABC",
        LOG_RETENTION_DAYS="2",
    )

    production, staging = product.env_tenants("AUTH0_TENANTS")

    assert production == {
        "slug": "production-eu",
        "name": "Production EU",
        "environment": "production",
        "colour": "#b42318",
        "domain": "acme-eu.eu.auth0.com",
        "base_url": "https://acme-eu.eu.auth0.com",
        "client_id": "id-eu",
        "client_secret": "secret-eu",
        "audience": "https://acme-eu.eu.auth0.com/api/v2/",
        "log_retention_days": 30,
        "plan": "enterprise",
    }
    assert staging["name"] == "staging"
    assert staging["environment"] == "staging"
    assert staging["colour"] == "#abc"
    assert staging["base_url"] == "http://127.0.0.1:8002"
    assert staging["client_secret"] == "from-a-file"
    assert staging["log_retention_days"] == 2
    assert staging["plan"] == "professional"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"DOMAIN": ""}, "DOMAIN"),
        ({"DOMAIN": "https://acme.auth0.com"}, "DOMAIN"),
        ({"CLIENT_ID": ""}, "CLIENT_ID"),
        ({"CLIENT_SECRET": ""}, "CLIENT_SECRET"),
        ({"CLIENT_SECRET_FILE": "/nonexistent/secret"}, "CLIENT_SECRET_FILE"),
        ({"ENVIRONMENT": ""}, "ENVIRONMENT"),
        ({"ENVIRONMENT": "prod"}, "ENVIRONMENT"),
        ({"COLOUR": "red"}, "COLOUR"),
        ({"COLOUR": "#12345"}, "COLOUR"),
        ({"PLAN": "gold"}, "PLAN"),
        ({"BASE_URL": "ftp://acme"}, "BASE_URL"),
        ({"LOG_RETENTION_DAYS": "ten"}, "LOG_RETENTION_DAYS"),
        ({"LOG_RETENTION_DAYS": "0"}, "LOG_RETENTION_DAYS"),
    ],
)
def test_a_malformed_field_is_named_with_its_tenant(
    clean_env: pytest.MonkeyPatch, changes: dict[str, str], field: str
) -> None:
    clean_env.setenv("AUTH0_TENANTS", "staging,production-eu")
    tenant_env(clean_env, "staging", **{**GOOD, "ENVIRONMENT": "staging"})
    tenant_env(clean_env, "production-eu", **{**GOOD, **changes})

    with pytest.raises(ImproperlyConfigured) as raised:
        product.env_tenants("AUTH0_TENANTS")

    message = str(raised.value)
    assert message.startswith(f"Tenant 'production-eu', field {field} ")
    assert f"AUTH0_TENANT_PRODUCTION_EU_{field}" in message
    assert "secret-eu" not in message


def test_a_secret_given_twice_or_an_empty_file_is_refused(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    clean_env.setenv("AUTH0_TENANTS", "eu")
    tenant_env(clean_env, "eu", **GOOD, CLIENT_SECRET_FILE=str(empty))
    with pytest.raises(ImproperlyConfigured, match="not both"):
        product.env_tenants("AUTH0_TENANTS")
    clean_env.delenv("AUTH0_TENANT_EU_CLIENT_SECRET")
    with pytest.raises(ImproperlyConfigured, match=r"field CLIENT_SECRET_FILE .* is empty"):
        product.env_tenants("AUTH0_TENANTS")


@pytest.mark.parametrize(
    ("tenants", "extra", "named"),
    [
        ("Prod_EU", {}, "'Prod_EU' is not a slug"),
        ("eu,eu", {}, "names a tenant twice"),
        ("eu", {"AUTH0_DOMAIN": "acme.auth0.com"}, "AUTH0_DOMAIN must not be"),
        ("eu", {"AUTH0_LOG_RETENTION_DAYS": "5"}, "AUTH0_LOG_RETENTION_DAYS must not be"),
    ],
)
def test_the_list_itself_is_checked(
    clean_env: pytest.MonkeyPatch, tenants: str, extra: dict[str, str], named: str
) -> None:
    clean_env.setenv("AUTH0_TENANTS", tenants)
    tenant_env(clean_env, "eu", **GOOD)
    for name, value in extra.items():
        clean_env.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=named):
        product.env_tenants("AUTH0_TENANTS")


def test_no_list_means_the_single_tenant_variables(clean_env: pytest.MonkeyPatch) -> None:
    assert product.env_tenants("AUTH0_TENANTS") == []


def test_the_client_secret_is_never_in_a_tenants_repr() -> None:
    tenant = management_api.current_tenant()
    assert tenant.client_secret
    assert tenant.client_secret not in repr(tenant)
    assert tenant.client_secret not in str(tenant)


TENANTS_SCRIPT = """
import json
from management_api import all_tenants, default_tenant
print(json.dumps([
    {k: v for k, v in t.__dict__.items() if k != "client_secret"} for t in all_tenants()
] + [default_tenant().slug if default_tenant() else None]))
"""


def tenants_in_child(tmp_path: Path, **env: str) -> list[Any]:
    result = python(embedded_env(tmp_path, **env), TENANTS_SCRIPT)
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout.strip().splitlines()[-1]))


def test_the_single_tenant_variables_keep_working_as_the_one_tenant(tmp_path: Path) -> None:
    sandbox, default = tenants_in_child(tmp_path, SANDBOX_PORT="8123")
    assert default == sandbox["slug"] == "userdesk-sandbox"
    assert sandbox["environment"] == "development"
    assert sandbox["base_url"] == "http://127.0.0.1:8123"
    assert sandbox["domain"] == "userdesk-sandbox.sandbox.local"
    assert sandbox["log_retention_days"] == 10

    real = {
        "AUTH0_DOMAIN": "acme.eu.auth0.com",
        "AUTH0_CLIENT_ID": "id",
        "AUTH0_CLIENT_SECRET": "secret",
    }
    acme, default = tenants_in_child(tmp_path, **real, AUTH0_LOG_RETENTION_DAYS="30")
    assert default == acme["slug"] == "acme-eu"
    assert acme["environment"] == "production"
    assert acme["base_url"] == "https://acme.eu.auth0.com"
    assert acme["audience"] == "https://acme.eu.auth0.com/api/v2/"
    assert (acme["log_retention_days"], acme["plan"]) == (30, "enterprise")

    pinned, _ = tenants_in_child(tmp_path, **real, AUTH0_TENANT_SLUG="acme")
    assert pinned["slug"] == "acme"


def test_auth0_tenants_in_a_real_process_and_a_malformed_one_stops_it(tmp_path: Path) -> None:
    env = {
        "AUTH0_TENANTS": "prod,staging",
        **{f"AUTH0_TENANT_PROD_{k}": v for k, v in GOOD.items()},
        **{f"AUTH0_TENANT_STAGING_{k}": v for k, v in GOOD.items()},
        "AUTH0_TENANT_STAGING_ENVIRONMENT": "staging",
    }
    prod, staging, default = tenants_in_child(tmp_path, **env)
    assert (prod["slug"], staging["slug"], default) == ("prod", "staging", None)
    assert staging["colour"] == "#b54708"

    broken = python(
        embedded_env(tmp_path, **env, AUTH0_TENANT_STAGING_PLAN="platinum"), TENANTS_SCRIPT
    )
    assert broken.returncode != 0
    last = broken.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured: Tenant 'staging', field PLAN" in last


def test_production_starts_on_auth0_tenants_alone(tmp_path: Path) -> None:
    env = production_env(tmp_path, AUTH0_TENANTS="eu")
    for name in ("AUTH0_DOMAIN", "AUTH0_CLIENT_ID", "AUTH0_CLIENT_SECRET"):
        env.pop(name)
    env.update({f"AUTH0_TENANT_EU_{k}": v for k, v in GOOD.items()})
    result = manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr


# --- Two sandbox tenants -----------------------------------------------------------------------


def sent(slug: str, path: str) -> int:
    return management_api.stats.for_tenant(slug)[path]


def users_at(server: SandboxServer) -> int:
    """How many users the tenant's sandbox holds, asked straight (other tests add some to the
    session's sandbox, so the seeded 300 is not a constant)."""
    with server.api() as api:
        params = {"per_page": "1", "include_totals": "true", "search_engine": "v3"}
        return int(api.get("/api/v2/users", params=params).json()["total"])


def test_without_a_scope_two_tenants_never_guess(two_tenants: tuple[Tenant, Tenant]) -> None:
    before = management_api.stats.total
    assert management_api.default_tenant() is None
    with pytest.raises(NoTenantChosen, match=r"\(prod, staging\)"):
        management_api.current_tenant()
    with pytest.raises(NoTenantChosen):
        management_api.search_users("")
    assert management_api.stats.total == before
    with pytest.raises(UnknownTenant, match="'nowhere'"), tenant_scope("nowhere"):
        pass


def test_each_tenant_gets_its_own_token_credentials_and_answers(
    two_tenants: tuple[Tenant, Tenant], sandbox_server: SandboxServer
) -> None:
    prod, staging = two_tenants
    answers = {}
    keys = {}
    tokens_sent = []
    for _round in range(2):
        for tenant in (prod, staging):
            with tenant_scope(tenant) as scoped:
                assert management_api.current_tenant() is scoped
                answers[tenant.slug] = management_api.search_users("", per_page=1).total
                keys[tenant.slug] = _token_cache_key()
        tokens_sent.append((sent("prod", "/oauth/token"), sent("staging", "/oauth/token")))

    assert answers == {"prod": users_at(sandbox_server), "staging": STAGING_USERS}
    assert keys["prod"] != keys["staging"]
    assert "prod" in keys["prod"]
    assert cache.get(keys["prod"]) != cache.get(keys["staging"])
    # Each fetched a token of its own (with its own secret: the staging server refuses the
    # other's), and the second round used each one's cached token.
    assert min(tokens_sent[0]) >= 1
    assert tokens_sent[1] == tokens_sent[0]
    refused = httpx.post(
        f"{staging.base_url}/oauth/token",
        json={
            "grant_type": "client_credentials",
            "client_id": staging.client_id,
            "client_secret": prod.client_secret,
            "audience": staging.audience,
        },
        timeout=10,
    )
    assert refused.status_code in (401, 403)


def test_scopes_nest_and_reach_the_threads_of_concurrently(
    two_tenants: tuple[Tenant, Tenant],
) -> None:
    prod, staging = two_tenants
    before = sent("staging", "/api/v2/users")
    with tenant_scope(prod), tenant_scope(staging):
        outcomes = management_api.concurrently(
            {
                "a": lambda: management_api.search_users("", per_page=1).total,
                "b": lambda: management_api.current_tenant().slug,
            }
        )
    assert outcomes["a"].value == STAGING_USERS
    assert outcomes["b"].value == "staging"
    assert sent("staging", "/api/v2/users") == before + 1


def search_all() -> search.SearchResult:
    return search.run_search("", page=0, per_page=5, sort=None, fields=["user_id", "email"])


def test_search_and_connections_caches_are_kept_per_tenant(
    two_tenants: tuple[Tenant, Tenant], sandbox_server: SandboxServer, settings: Any
) -> None:
    settings.SEARCH_CACHE_SECONDS = 60
    settings.CONNECTIONS_CACHE_SECONDS = 60
    prod, staging = two_tenants
    with tenant_scope(prod):
        prod_page = search_all()
        management_api.connections()
    with tenant_scope(staging):
        before_users = sent("staging", "/api/v2/users")
        before_connections = sent("staging", "/api/v2/connections")
        staging_page = search_all()
        management_api.connections()
        assert not staging_page.from_cache
        assert sent("staging", "/api/v2/users") == before_users + 1
        # The one connections cache (search filter and exports) asked staging itself rather
        # than reading prod's entry, and then answers staging from its own.
        assert sent("staging", "/api/v2/connections") == before_connections + 1
        management_api.connections()
        assert sent("staging", "/api/v2/connections") == before_connections + 1
        assert search_all().from_cache
    with tenant_scope(prod):
        assert search_all().from_cache
    assert prod_page.page.total == users_at(sandbox_server)
    assert staging_page.page.total == STAGING_USERS


def test_stats_count_each_tenant_apart(two_tenants: tuple[Tenant, Tenant]) -> None:
    prod, staging = two_tenants
    before = (sent("prod", "/api/v2/users"), sent("staging", "/api/v2/users"))
    with tenant_scope(staging):
        management_api.search_users("", per_page=1)
        management_api.search_users("", per_page=1)
    with tenant_scope(prod):
        management_api.search_users("", per_page=1)
    assert (sent("prod", "/api/v2/users"), sent("staging", "/api/v2/users")) == (
        before[0] + 1,
        before[1] + 2,
    )


def test_log_retention_is_the_current_tenants(two_tenants: tuple[Tenant, Tenant]) -> None:
    prod, staging = two_tenants
    with tenant_scope(prod):
        assert management_api.current_tenant().log_retention_days == 30
    with tenant_scope(staging):
        assert management_api.current_tenant().log_retention_days == 5


# --- Stored rows -------------------------------------------------------------------------------


def test_stored_rows_carry_their_tenant_and_are_read_only_for_it(
    two_tenants: tuple[Tenant, Tenant], db: None, support_lead: User
) -> None:
    prod, staging = two_tenants
    token = uuid.uuid4()
    with tenant_scope(prod):
        saved.remember(support_lead, "q=ada", "ada")
        SavedSearch.objects.create(owner=support_lead, name="Mine", query_string="q=ada")
        SavedSearch.objects.create(owner=support_lead, name="Team", query_string="q=b", shared=True)
        ExportTemplate.objects.create(owner=support_lead, name="Monthly", spec={})
        ActionRequest.objects.create(token=token, action="block", user_id="auth0|1")
        audit.record_for(None, support_lead, "user.blocked", target="auth0|1")
        assert submitted(token)
        assert [s.name for s in SavedSearch.objects.visible_to(support_lead)] == ["Mine", "Team"]
        assert RecentSearch.objects.of(support_lead).count() == 1
        assert ExportTemplate.objects.of(support_lead).count() == 1
        assert len(timeline.audit_events("auth0|1")) == 1

    with tenant_scope(staging):
        assert not submitted(token)
        assert not SavedSearch.objects.visible_to(support_lead).exists()
        assert not RecentSearch.objects.of(support_lead).exists()
        assert not ExportTemplate.objects.of(support_lead).exists()
        assert timeline.audit_events("auth0|1") == []
        # The same names may exist once per tenant.
        saved.remember(support_lead, "q=ada", "ada")
        SavedSearch.objects.create(owner=support_lead, name="Mine", query_string="q=other")
        ExportTemplate.objects.create(owner=support_lead, name="Monthly", spec={})

    for model in (SavedSearch, RecentSearch, ExportTemplate):
        assert set(model.objects.values_list("tenant", flat=True)) == {"prod", "staging"}
    assert ActionRequest.objects.get(token=token).tenant == "prod"
    assert AuditEvent.objects.get(action="user.blocked").tenant == "prod"


def test_no_row_of_a_tenant_is_saved_without_a_chosen_tenant(
    two_tenants: tuple[Tenant, Tenant], db: None, support_lead: User
) -> None:
    with pytest.raises(NoTenantChosen):
        SavedSearch.objects.create(owner=support_lead, name="Where?", query_string="")
    with pytest.raises(NoTenantChosen):
        ActionRequest.objects.create(token=uuid.uuid4(), action="block", user_id="auth0|1")
    # What concerns no tenant (a sign-in) is still recorded, with a blank tenant.
    event = audit.record_for(None, support_lead, "staff.signed_in")
    assert event.tenant == ""


def test_an_export_runs_on_its_own_tenant_outside_any_scope(
    two_tenants: tuple[Tenant, Tenant], db: None, export_settings: Path, export_admin: User
) -> None:
    with tenant_scope(two_tenants[1]):
        export = tasks.create_export(CSV_SPEC, requested_by=export_admin)
    assert export.tenant == "staging"
    before = sent("prod", "/api/v2/jobs/users-exports")

    done = drive(export.pk)  # as a worker would: no scope open

    assert done.status == Status.READY, done.failure_reason
    assert done.row_count == STAGING_USERS
    assert sent("prod", "/api/v2/jobs/users-exports") == before
    child = Export.objects.create_queued(
        done.spec, requested_by=export_admin, parent=done, filter_conditions=[]
    )
    assert child.tenant == "staging"


def test_an_export_of_a_tenant_no_longer_configured_fails_saying_so(
    two_tenants: tuple[Tenant, Tenant], db: None, export_settings: Path, export_admin: User
) -> None:
    with tenant_scope(two_tenants[1]):
        export = tasks.create_export(CSV_SPEC, requested_by=export_admin)
    Export.objects.filter(pk=export.pk).update(tenant="gone")

    done = drive(export.pk)

    assert done.status == Status.FAILED
    assert "No Auth0 tenant 'gone'" in done.failure_reason


@pytest.mark.django_db(transaction=True)
def test_migrations_give_existing_rows_the_configured_tenant(settings: Any) -> None:
    settings.AUTH0_TENANT_SLUG = "acme-eu"
    executor = MigrationExecutor(connection)
    executor.migrate([("users_admin", "0002_saved_and_recent_searches")])
    old = executor.loader.project_state(("users_admin", "0002_saved_and_recent_searches")).apps
    owner = old.get_model("auth", "User").objects.create(username="old@example.com")
    old.get_model("users_admin", "SavedSearch").objects.create(
        owner=owner, name="Before", query_string="q=a"
    )
    old.get_model("users_admin", "ActionRequest").objects.create(
        token=uuid.uuid4(), action="block", user_id="auth0|1"
    )

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert list(SavedSearch.objects.values_list("tenant", flat=True)) == ["acme-eu"]
    assert list(ActionRequest.objects.values_list("tenant", flat=True)) == ["acme-eu"]
    assert apps.get_model("users_admin", "SavedSearch") is SavedSearch


def test_a_request_runs_in_the_only_tenant_of_auth0_tenants(
    staging_server: SandboxServer, settings: Any, lead_client: Any
) -> None:
    settings.AUTH0_TENANTS = [entry("staging-only", staging_server, "staging")]
    with tenant_scope("staging-only"):
        user_id = management_api.search_users("", per_page=1).users[0]["user_id"]

    page = lead_client.get(f"/t/staging-only/users/{user_id}/")

    assert page.status_code == 200
    assert "Auth0 keeps logs for 5 days" in page.content.decode()
    saved_search = lead_client.post(
        "/t/staging-only/searches/save/", {"name": "Staging ones", "query_string": "q=a"}
    )
    assert saved_search.status_code == 302
    assert SavedSearch.objects.get(name="Staging ones").tenant == "staging-only"


@pytest.mark.parametrize(
    ("name", "slug", "environment", "said"),
    [
        ("Production EU", "production-eu", "production", "Production EU (production-eu)"),
        ("Acme", "acme", "staging", "Acme (staging)"),
        ("Production (sandbox)", "production", "production", "Production (sandbox)"),
        ("staging", "staging", "staging", "staging"),
        ("EU", "eu-prod", "production", "EU (eu-prod, production)"),
    ],
)
def test_a_tenant_in_words_says_its_slug_and_environment_once_and_only_if_unsaid(
    name: str, slug: str, environment: str, said: str
) -> None:
    assert named_tenant(name, slug, environment) == said
