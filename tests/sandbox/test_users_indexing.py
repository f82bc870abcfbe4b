"""The sandbox's search index: s_ columns and flattened terms built from stored profiles."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from sandbox.indexing import S_COLUMNS, apply_due, enqueue, search_columns, search_terms
from sandbox.models import IndexQueue, SearchTerm, TenantUser

PROFILE: dict[str, Any] = {
    "user_id": "auth0|5f7c8ec7c33c6c004bbafe82",
    "email": "Zoë.Dupont@Example.COM",
    "email_verified": True,
    "name": "Zoë Dupont",
    "nickname": "zoe",
    "logins_count": 7,
    "created_at": "2021-03-04T05:06:07.089Z",
    "identities": [
        {
            "connection": "Username-Password-Authentication",
            "user_id": "5f7c8ec7c33c6c004bbafe82",
            "provider": "auth0",
            "isSocial": False,
        },
        {"connection": "github", "user_id": 4242, "provider": "github", "isSocial": True},
    ],
    "app_metadata": {"plan": "gold", "roles": ["admin", "billing"], "seats": 3, "ratio": 0.5},
    "user_metadata": {
        "consent": {"given": True, "date": "2024-01-02", "text_details": ""},
        "addresses": [{"city": "Paris"}, {"city": "Lyon"}],
        "nothing": None,
        "empty_list": [],
        "empty_object": {},
    },
}


def test_columns_fold_case_only_for_auth0_case_insensitive_fields() -> None:
    columns = dict(zip(S_COLUMNS, search_columns(PROFILE), strict=True))
    assert columns["s_email"] == "zoë.dupont@example.com"
    assert columns["s_email_domain"] == "example.com"
    assert columns["s_name"] == "zoë dupont"
    assert columns["s_user_id"] == "auth0|5f7c8ec7c33c6c004bbafe82"
    assert columns["s_connection"] == "Username-Password-Authentication"
    assert columns["s_logins_count"] == 7
    assert columns["s_email_verified"] is True
    # Absent fields are NULL, never '', so _exists_ is IS NOT NULL.
    assert columns["s_given_name"] is None
    assert columns["s_blocked"] is None
    assert columns["s_last_login"] is None


def test_terms_flatten_arrays_and_skip_null_and_empty_containers() -> None:
    terms = set(search_terms(PROFILE))
    assert terms == {
        ("app_metadata.plan", "gold"),
        ("app_metadata.roles", "admin"),
        ("app_metadata.roles", "billing"),
        ("app_metadata.seats", "3"),
        ("app_metadata.ratio", "0.5"),
        ("user_metadata.consent.given", "true"),
        ("user_metadata.consent.date", "2024-01-02"),
        ("user_metadata.consent.text_details", ""),
        ("user_metadata.addresses.city", "Paris"),
        ("user_metadata.addresses.city", "Lyon"),
        ("identities.connection", "github"),
        ("identities.provider", "auth0"),
        ("identities.provider", "github"),
        ("identities.user_id", "5f7c8ec7c33c6c004bbafe82"),
        ("identities.user_id", "4242"),
        ("identities.isSocial", "false"),
        ("identities.isSocial", "true"),
    }


@pytest.mark.django_db(databases=["sandbox"])
def test_queued_user_is_indexed_only_once_due() -> None:
    user = TenantUser.objects.create(
        user_id=PROFILE["user_id"], email=PROFILE["email"], profile=json.dumps(PROFILE)
    )
    now = timezone.now()
    with override_settings(SANDBOX_SEARCH_LAG_SECONDS=30):
        enqueue([user.pk], now=now)

    assert apply_due(now=now + timedelta(seconds=29)) == 0
    user.refresh_from_db()
    assert not user.searchable
    assert user.s_email is None

    assert apply_due(now=now + timedelta(seconds=30)) == 1
    user.refresh_from_db()
    assert user.searchable
    assert user.s_email == "zoë.dupont@example.com"
    assert SearchTerm.objects.filter(user=user, path="app_metadata.roles").count() == 2
    assert not IndexQueue.objects.exists()


@pytest.mark.django_db(databases=["sandbox"])
def test_no_lag_indexes_at_once_and_reindex_replaces_terms() -> None:
    user = TenantUser.objects.create(
        user_id=PROFILE["user_id"], email=PROFILE["email"], profile=json.dumps(PROFILE)
    )
    with override_settings(SANDBOX_SEARCH_LAG_SECONDS=0):
        enqueue([user.pk])
        changed = {**PROFILE, "app_metadata": {"plan": "free"}}
        TenantUser.objects.filter(pk=user.pk).update(profile=json.dumps(changed))
        enqueue([user.pk])
    assert set(
        SearchTerm.objects.filter(user=user, path__startswith="app_metadata").values_list(
            "path", "value"
        )
    ) == {("app_metadata.plan", "free")}
    assert not IndexQueue.objects.exists()
