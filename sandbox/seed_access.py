"""The seeded tenant's roles (with their permissions) and organizations, and which users hold
them: users with roles, direct permissions and organization memberships with organization roles.

The catalogue is fixed (`ensure_catalogue`); a user's assignments follow from the same case
hash as the other support cases (`sandbox.seed_support.case`), written while seeding.
"""

from __future__ import annotations

import random
import time
from typing import Any

import orjson

from sandbox.access_models import (
    Membership,
    Organization,
    ResourceServer,
    Role,
    UserPermission,
    UserRole,
)
from sandbox.routers import SANDBOX_DB

ACCESS = range(180, 260)  # users with roles, direct permissions and organizations
DAY_MS = 86_400_000
API = "https://api.userdesk-demo.example/"
API_NAME = "Userdesk demo API"
API_ID = "5eed0a1b2c3d4e5f60718293"  # 24 hex digits, like Auth0's resource server ids
SCOPES = {
    "read:invoices": "Read invoices",
    "create:invoices": "Create invoices",
    "read:reports": "Read reports",
    "export:reports": "Export reports",
    "read:projects": "Read projects",
    "update:projects": "Change projects",
    "delete:projects": "Delete projects",
    "manage:members": "Invite and remove team members",
    "manage:billing": "Change the plan and payment method",
}
# (name, description, scopes): a few roles people ask for, then enough project roles that the
# tenant's list runs to several pages.
NAMED_ROLES = (
    ("admin", "Full access to the account", tuple(SCOPES)),
    (
        "billing-manager",
        "Invoices and the plan",
        ("read:invoices", "create:invoices", "manage:billing"),
    ),
    ("editor", "Changes projects", ("read:projects", "update:projects")),
    ("viewer", "Reads projects and reports", ("read:projects", "read:reports")),
    ("analyst", "Reads and exports reports", ("read:reports", "export:reports")),
    ("team-owner", "Manages the team", ("manage:members", "read:projects")),
)
PROJECTS = (
    "apollo",
    "borealis",
    "cascade",
    "delta",
    "ember",
    "fjord",
    "granite",
    "harbor",
    "iris",
    "juniper",
    "kestrel",
    "lumen",
    "meridian",
    "nimbus",
    "orchid",
    "prairie",
    "quartz",
    "ridge",
    "sierra",
    "tundra",
    "willow",
    "xenon",
    "yarrow",
    "zephyr",
    "umber",
    "vertex",
)
ORGANIZATIONS = (
    ("acme", "Acme Corporation", "#0059d6"),
    ("globex", "Globex", "#1a7f37"),
    ("initech", "Initech", "#8250df"),
    ("umbrella", "Umbrella Health", "#cf222e"),
    ("stark", "Stark Industries", "#bf8700"),
    ("wayne", "Wayne Enterprises", "#24292f"),
)


def _role_id(name: str) -> str:
    # rol_ and 16 letters or digits, like Auth0's; stable for a name.
    letters = "".join(c for c in name.title() if c.isalnum())
    return f"rol_{(letters + 'Xq7Zr2Lm9Pd4Tk8W')[:16]}"


def _permission(scope: str) -> dict[str, str]:
    return {
        "resource_server_identifier": API,
        "permission_name": scope,
        "description": SCOPES[scope],
        "resource_server_name": API_NAME,
    }


def catalogue_roles() -> list[tuple[str, str, str, list[dict[str, str]]]]:
    found = [(_role_id(n), n, d, [_permission(s) for s in scopes]) for n, d, scopes in NAMED_ROLES]
    for project in PROJECTS:
        for level, scopes in (
            ("reader", ("read:projects",)),
            ("maintainer", ("read:projects", "update:projects", "delete:projects")),
        ):
            name = f"{project}-{level}"
            found.append(
                (
                    _role_id(name),
                    name,
                    f"{level.title()} of project {project.title()}",
                    [_permission(s) for s in scopes],
                )
            )
    return found


def org_id(name: str) -> str:
    return f"org_{(name.title() + 'Vv1JTfJhf3NwyCie')[:16]}"


def demo_api() -> dict[str, object]:
    """The tenant's one API, whose scopes the roles' permissions are (GET
    /resource-servers/{id} answers this, with its id)."""
    return {
        "name": API_NAME,
        "identifier": API,
        "scopes": [{"value": scope, "description": text} for scope, text in SCOPES.items()],
        "signing_alg": "RS256",
        "allow_offline_access": False,
        "token_lifetime": 86400,
        "token_lifetime_for_web": 7200,
        "skip_consent_for_verifiable_first_party_clients": False,
    }


def ensure_catalogue() -> None:
    """The tenant's API, roles and organizations, created or reset to their seeded values."""
    ResourceServer.objects.using(SANDBOX_DB).update_or_create(
        id=API_ID, defaults={"identifier": API, "body": demo_api()}
    )
    for role_id, name, description, permissions in catalogue_roles():
        Role.objects.using(SANDBOX_DB).update_or_create(
            id=role_id,
            defaults={"name": name, "description": description, "permissions": permissions},
        )
    for name, display, colour in ORGANIZATIONS:
        Organization.objects.using(SANDBOX_DB).update_or_create(
            id=org_id(name),
            defaults={
                "name": name,
                "body": {
                    "display_name": display,
                    "branding": {"colors": {"primary": colour, "page_background": "#ffffff"}},
                    "metadata": {},
                },
            },
        )


def _iso(epoch_ms: int) -> str:
    seconds, millis = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def add_rows(rows: Any, seed: int, pk: int, profile: dict[str, Any], seeded_ms: int) -> None:
    """A user with roles: 1-3 tenant roles, often a direct permission, 1-2 organizations with
    0-2 organization roles each."""
    rng = random.Random(f"{seed}:{profile['user_id']}:access")
    named = [_role_id(n) for n, _, _ in NAMED_ROLES]
    project = [_role_id(f"{p}-reader") for p in PROJECTS]
    chosen = rng.sample(named, 1 + int(rng.random() * 2)) + rng.sample(
        project, int(rng.random() * 2)
    )
    for role_id in chosen:
        rows.user_roles.append((pk, role_id))
    if rng.random() < 0.6:
        scope = rng.choice(("export:reports", "manage:billing", "delete:projects"))
        p = _permission(scope)
        rows.user_permissions.append(
            (
                pk,
                p["resource_server_identifier"],
                p["permission_name"],
                p["description"],
                p["resource_server_name"],
            )
        )
    for name, _, _ in rng.sample(ORGANIZATIONS, 1 + int(rng.random() * 1.7)):
        joined = seeded_ms - int(rng.random() * 300 * DAY_MS)
        roles = rng.sample(named, int(rng.random() * 2.5))
        rows.memberships.append((org_id(name), pk, _iso(joined), orjson.dumps(roles).decode()))


def _insert(model: Any, columns: str) -> str:
    marks = ", ".join("?" * len(columns.split(",")))
    return f"INSERT INTO {model._meta.db_table} ({columns}) VALUES ({marks})"  # noqa: S608


# (SupportRows field, insert statement) for sandbox.seed.
INSERTS = (
    ("user_roles", _insert(UserRole, "user_id, role_id")),
    (
        "user_permissions",
        _insert(
            UserPermission,
            "user_id, resource_server_identifier, permission_name, description, "
            "resource_server_name",
        ),
    ),
    ("memberships", _insert(Membership, "organization_id, user_id, created_at, roles")),
)
