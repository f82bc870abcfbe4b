"""Seeding the sandbox tenant: deterministic, realistic, and indexed exactly like later writes."""

from __future__ import annotations

import json
import re
import sqlite3
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from sandbox import log_reads
from sandbox.indexing import S_COLUMNS, search_columns, search_terms
from sandbox.models import (
    AuthenticationMethod,
    Connection,
    RefreshToken,
    SearchTerm,
    TenantUser,
    UserBlock,
)
from sandbox.seed import DATABASE_CONNECTION, generate_users, seed_users

ROOT = Path(__file__).resolve().parents[2]
ISO_MS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
SAMPLE = 6000


@pytest.fixture(scope="module")
def sample() -> list[dict[str, Any]]:
    return list(generate_users(SAMPLE, 42))


def test_same_seed_same_users_and_blocks_do_not_depend_on_n() -> None:
    assert list(generate_users(300, 5)) == list(generate_users(300, 5))
    assert list(generate_users(300, 5)) != list(generate_users(300, 6))
    # A larger tenant starts with the smaller one; a later slice is the same users too.
    assert list(generate_users(7000, 5))[:300] == list(generate_users(300, 5))
    assert list(generate_users(7000, 5))[4990:5010] == list(generate_users(20, 5, start=4990))


def test_connections_and_email_casing(sample: list[dict[str, Any]]) -> None:
    by_connection: dict[str, list[dict[str, Any]]] = {}
    for profile in sample:
        by_connection.setdefault(profile["identities"][0]["connection"], []).append(profile)
    assert set(by_connection) == {
        DATABASE_CONNECTION,
        "google-oauth2",
        "github",
        "acme-saml",
        "email",
        "sms",
    }
    database = by_connection[DATABASE_CONNECTION]
    assert all(p["email"] == p["email"].lower() for p in database)
    social = by_connection["google-oauth2"] + by_connection["github"] + by_connection["acme-saml"]
    mixed = [p for p in social if "email" in p and p["email"] != p["email"].lower()]
    assert len(mixed) > len(social) * 0.8

    owners: dict[str, set[str]] = {}
    for profile in sample:
        if "email" in profile:
            owners.setdefault(profile["email"], set()).add(profile["identities"][0]["connection"])
    shared = [email for email, connections in owners.items() if len(connections) == 2]
    assert len(shared) > 10
    # And the same address in another case belongs to someone else.
    lowered: dict[str, set[str]] = {}
    for email in owners:
        lowered.setdefault(email.lower(), set()).add(email)
    assert any(len(variants) > 1 for variants in lowered.values())
    assert len({p["user_id"] for p in sample}) == SAMPLE


def test_names_and_values_that_hurt(sample: list[dict[str, Any]]) -> None:
    names = [p["name"] for p in sample]
    values = [str(v) for p in sample for v in (p["name"], p.get("nickname", ""))] + [
        str(p.get("user_metadata", {}).get("bio", "")) for p in sample
    ]
    assert any(re.search(r"[éëèçñøüåíőłÁ]", name, re.IGNORECASE) for name in names)
    assert any(re.search(r"[\u4e00-\u9fff\uac00-\ud7af]", name) for name in names)
    assert any("'" in name for name in names)
    assert any('"' in name for name in names)
    assert any("," in name for name in names)
    assert any("\n" in name for name in names)
    for lead in "=+-@":
        assert any(value.startswith(lead) for value in values), lead
    assert any("<script>" in value for value in values)


def test_profile_shapes(sample: list[dict[str, Any]]) -> None:
    for profile in sample:
        assert None not in profile.values()  # absent, never null
        for key in ("created_at", "updated_at", "last_login"):
            if key in profile:
                assert ISO_MS.match(profile[key]), profile[key]
        assert profile["updated_at"] >= profile["created_at"]
        if "last_login" in profile:
            assert profile["last_login"] >= profile["created_at"]
        if "phone_number" in profile:
            assert re.fullmatch(r"\+[0-9]{1,15}", profile["phone_number"])
        assert profile["picture"].startswith("https://")
        identity = profile["identities"][0]
        provider, _, rest = profile["user_id"].partition("|")
        assert identity["provider"] == provider
        if provider == "github":
            assert identity["user_id"] == int(rest)
        else:
            assert identity["user_id"] == rest  # no provider prefix
    assert any(p.get("blocked") is True for p in sample)
    assert any("logins_count" not in p for p in sample)
    assert any("email" not in p for p in sample)
    assert any("given_name" not in p for p in sample)
    assert any(len(p["identities"]) == 2 for p in sample)
    logins = sorted(p["logins_count"] for p in sample if "logins_count" in p)
    assert logins[-1] > 50 * max(statistics.median(logins), 1)
    years = {p["created_at"][:4] for p in sample}
    assert len(years) >= 8


def test_nested_metadata(sample: list[dict[str, Any]]) -> None:
    apps = [p["app_metadata"] for p in sample if "app_metadata" in p]
    metas = [p["user_metadata"] for p in sample if "user_metadata" in p]
    assert {"plan", "country", "roles"} <= set(apps[0])
    assert any(isinstance(a.get("seats"), int) for a in apps)
    assert any(a["roles"] == [] for a in apps)
    consent = metas[0]["consent"]
    assert isinstance(consent["given"], bool)
    assert {"given", "date", "text_details"} == set(consent)
    assert any(isinstance(m["preferences"].get("newsletter"), bool) for m in metas)
    assert any(isinstance(m.get("score"), float) for m in metas)
    assert any(isinstance(m.get("addresses"), list) for m in metas)


@pytest.mark.django_db(databases=["sandbox"])
def test_seeded_index_matches_what_a_write_would_index() -> None:
    result = seed_users(1500, 9)
    assert result.users == TenantUser.objects.count() == 1500
    assert Connection.objects.count() == 6
    for user in TenantUser.objects.order_by("id")[::37]:
        profile = json.loads(user.profile)
        assert user.searchable
        assert user.user_id == profile["user_id"]
        assert user.email == profile.get("email")
        stored = tuple(getattr(user, column) for column in S_COLUMNS)
        assert stored == search_columns(profile)
        terms = set(SearchTerm.objects.filter(user=user).values_list("path", "value"))
        assert terms == set(search_terms(profile))
    assert SearchTerm.objects.count() == result.terms

    # Seeding again replaces the tenant; --append continues it.
    seed_users(100, 9)
    assert TenantUser.objects.count() == 100
    seed_users(50, 9, append=True)
    assert TenantUser.objects.count() == 150
    assert list(TenantUser.objects.order_by("id").values_list("id", flat=True)) == list(
        range(1, 151)
    )
    appended = json.loads(TenantUser.objects.get(id=101).profile)
    assert appended == next(generate_users(1, 9, start=100))


def test_command_seeds_its_own_database_and_prints_the_time(tmp_path: Path) -> None:
    db_path = tmp_path / "sandbox.sqlite3"
    env = {
        "PATH": "/usr/bin:/bin",
        "USERDESK_VAR_DIR": str(tmp_path / "var"),
        "SANDBOX_DATABASE_PATH": str(db_path),
        "DJANGO_SETTINGS_MODULE": "sandbox.settings",
        "DEBUG": "true",
    }
    command = [sys.executable, "manage.py", "sandbox_seed", "--users", "12000", "--seed", "3"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert re.search(
        r"Seeded 12,000 users \([\d,]+ search terms\) with seed 3 in [\d.]+s", done.stdout
    )
    appended = subprocess.run(
        [*command[:-4], "--users", "10", "--seed", "3", "--append"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert appended.returncode == 0, appended.stderr
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT count(*) FROM sandbox_tenantuser").fetchone()[0] == 12010
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        indexes = {
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        }
        assert "sandbox_term_path_value" in indexes
        assert sum(name.startswith("sandbox_u_s_") for name in indexes) == 14
        first = json.loads(
            db.execute("SELECT profile FROM sandbox_tenantuser WHERE id = 1").fetchone()[0]
        )
    assert first == next(generate_users(1, 3))


def _support_shapes() -> dict[str, list[str]]:
    """User ids of each seeded support case, as docs/sandbox/seeding.md's table finds them."""
    users = {u.user_id: json.loads(u.profile) for u in TenantUser.objects.all()}
    block_counts = Counter(UserBlock.objects.values_list("user__user_id", flat=True))
    method_types: dict[str, set[str]] = {}
    for user_id, kind in AuthenticationMethod.objects.values_list("user__user_id", "type"):
        method_types.setdefault(user_id, set()).add(kind)
    devices = set(RefreshToken.objects.values_list("user__user_id", flat=True))
    return {
        "blocked by an admin": [u for u, p in users.items() if p.get("blocked") is True],
        "brute-force blocked": list(block_counts),
        "brute-force blocked from several IPs": [u for u, n in block_counts.items() if n > 1],
        "unverified": [
            u
            for u, p in users.items()
            if p.get("email_verified") is False and p["user_id"].startswith("auth0|")
        ],
        "MFA with several methods": [u for u, kinds in method_types.items() if len(kinds) >= 3],
        "social (email cannot change)": [
            u for u, p in users.items() if p["identities"][0]["isSocial"] and p.get("email")
        ],
        "no email": [u for u, p in users.items() if not p.get("email")],
        "sessions and refresh tokens": list(devices),
    }


@pytest.mark.django_db(databases=["sandbox"])
def test_the_test_tenant_holds_every_support_case() -> None:
    seed_users(300, 7)  # the sandbox_server fixture's tenant
    shapes = _support_shapes()
    assert {name: len(ids) for name, ids in shapes.items() if not ids} == {}
    # Each case leaves its trace in the user's seeded log history.
    brute = shapes["brute-force blocked"][0]
    assert {"fp", "limit_wc"} <= {e["type"] for e in log_reads.for_user(brute)}
    admin = shapes["blocked by an admin"][0]
    assert "user is blocked" in {e["description"] for e in log_reads.for_user(admin)}


@pytest.mark.django_db(databases=["sandbox"])
def test_support_rows_are_deterministic_and_leave_profiles_alone() -> None:
    seed_users(600, 7)
    first = (
        list(UserBlock.objects.order_by("id").values_list("user_id", "identifier", "ip")),
        list(AuthenticationMethod.objects.order_by("id").values_list("id", "user_id", "type")),
    )
    profiles = list(TenantUser.objects.order_by("id").values_list("profile", flat=True))
    seed_users(600, 7)
    again = (
        list(UserBlock.objects.order_by("id").values_list("user_id", "identifier", "ip")),
        list(AuthenticationMethod.objects.order_by("id").values_list("id", "user_id", "type")),
    )
    # Same rows; only their dates move with the day the tenant is seeded.
    assert first == again
    assert [json.loads(p) for p in profiles] == list(generate_users(600, 7))
