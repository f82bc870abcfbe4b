"""The builder's fields come in groups: Profile, Identities, app_metadata,
user_metadata and Other fields, each field under its root attribute, typed-in paths too."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from exports.forms import field_group

pytestmark = pytest.mark.usefixtures("use_sandbox")


@pytest.mark.parametrize(
    ("name", "group"),
    [
        ("email", "profile"),
        ("multifactor", "profile"),
        ("identities", "identities"),
        ("identities[0].profileData.email", "identities"),
        ("app_metadata", "app_metadata"),
        ("app_metadata.billing.annual", "app_metadata"),
        ("user_metadata.addresses[0].city", "user_metadata"),
        ("password", "other"),
    ],
)
def test_each_field_has_the_group_of_its_root(name: str, group: str) -> None:
    assert field_group(name) == group


def groups_of(body: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, inner in re.findall(
        r'<fieldset class="field-group" id="field-group-([a-z_]+)">(.*?)</fieldset>', body, re.S
    ):
        names = re.findall(r'name="r-\d+-name" value="([^"]*)"', inner)
        found[key] = names
    return found


def test_the_builder_lists_each_field_in_its_group(admin_client_: Client) -> None:
    body = admin_client_.get("/t/userdesk-sandbox/exports/new/").content.decode()
    groups = groups_of(body)
    assert list(groups) == ["profile", "identities", "app_metadata", "user_metadata", "other"]
    assert groups["profile"][:3] == ["user_id", "email", "email_verified"]
    # The default pick identities[0].connection is typed in, yet listed with the identities.
    assert groups["identities"] == ["identities", "identities[0].connection"]
    assert groups["app_metadata"][0] == "app_metadata"
    assert len(groups["app_metadata"]) > 1
    assert all(name.startswith("app_metadata") for name in groups["app_metadata"])
    assert all(name.startswith("user_metadata") for name in groups["user_metadata"])
    # The empty rows for typing in another field.
    assert body.count('aria-label="Include this other field"') >= 5
    # One line per field, no table to scroll sideways.
    assert "field-picker" in body
    assert "<table" not in body[body.index('id="fields"') : body.index('id="picked-order"')]
