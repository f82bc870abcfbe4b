"""The access actions (issue 22, items 3-5): assign and remove a role, remove an organization
membership, change organization roles, end one session, revoke one refresh token. Declared like
the others (see users_admin/actions.py); `ACTIONS` takes them in."""

from __future__ import annotations

from typing import Any

from management_api.access import (
    assign_member_roles,
    assign_user_roles,
    delete_refresh_token,
    member_roles,
    remove_member,
    remove_member_roles,
    remove_user_roles,
    revoke_session,
    user_roles,
)
from management_api.support import user_refresh_tokens, user_sessions
from staff.permissions import Capability

from .access import role_names
from .access_forms import (
    AssignRoleForm,
    OrganizationForm,
    OrganizationRolesForm,
    RemoveRoleForm,
    RevokeSessionForm,
    RevokeTokenForm,
)
from .declaring import Action, Change, Data, Place, Result, Section, counted
from .workbench import Workbench, sessions_unavailable

MAX_ROLES = 50  # Auth0's limit of roles per user


def _names(bench: Workbench) -> list[str]:
    return role_names(bench.roles.value or [])


# --- roles -------------------------------------------------------------------------------------


def _may_get_a_role(bench: Workbench) -> str | None:
    if bench.roles.value is not None and len(bench.roles.value) >= MAX_ROLES:
        return f"The user has {MAX_ROLES} roles, the most Auth0 allows: remove one first."
    return None  # or not known (a failed read): Auth0 will say


def _has_roles(bench: Workbench) -> str | None:
    return None if bench.roles.value else "The user has no role assigned directly."


def _assign_preview(bench: Workbench, data: Data) -> tuple[Change, Change]:
    before = _names(bench)
    return {"roles": before}, {"roles": sorted({*before, str(data["role_name"])})}


def _remove_preview(bench: Workbench, data: Data) -> tuple[Change, Change]:
    before = _names(bench)
    return {"roles": before}, {"roles": [n for n in before if n != data["role_name"]]}


def _assign_role(bench: Workbench, data: Data) -> Result:
    assign_user_roles(bench.user_id, [str(data["role"])])
    after = role_names(user_roles(bench.user_id) or [])
    return Result(
        message=f"Role {data['role_name']} assigned: its permissions apply from the user's "
        "next token.",
        before={"roles": _names(bench)},
        after={"roles": after},
        answer={"status": 204, "role": {"id": data["role"], "name": data["role_name"]}},
    )


def _remove_role(bench: Workbench, data: Data) -> Result:
    remove_user_roles(bench.user_id, [str(data["role"])])
    after = role_names(user_roles(bench.user_id) or [])
    return Result(
        message=f"Role {data['role_name']} removed: tokens issued from now on leave out its "
        "permissions.",
        before={"roles": _names(bench)},
        after={"roles": after},
        answer={"status": 204, "role": {"id": data["role"], "name": data["role_name"]}},
    )


# --- organizations -------------------------------------------------------------------------------


def _is_member(bench: Workbench) -> str | None:
    return None if bench.memberships.value else "The user is a member of no organization."


def _membership_change(data: Data, after: Any) -> tuple[Change, Change]:
    return {"organization": data["organization_name"], "roles": data["roles"]}, after


def _remove_member_preview(bench: Workbench, data: Data) -> tuple[Change, Change]:
    return _membership_change(data, {"organization": data["organization_name"], "member": False})


def _remove_membership(bench: Workbench, data: Data) -> Result:
    remove_member(str(data["organization"]), bench.user_id)
    return Result(
        message=f"Removed from {data['organization_name']}: Auth0 applies it within seconds. "
        "The user keeps their account and their other organizations.",
        before={"organization": data["organization_name"], "member": True, "roles": data["roles"]},
        after={"organization": data["organization_name"], "member": False},
        answer={"status": 204},
    )


def _org_roles_preview(bench: Workbench, data: Data) -> tuple[Change, Change]:
    return (
        {"organization": data["organization_name"], "roles": data["before_names"]},
        {"organization": data["organization_name"], "roles": data["after_names"]},
    )


def _change_org_roles(bench: Workbench, data: Data) -> Result:
    org = str(data["organization"])
    if data["add"]:
        assign_member_roles(org, bench.user_id, list(data["add"]))
    if data["remove"]:
        remove_member_roles(org, bench.user_id, list(data["remove"]))
    now = role_names(member_roles(org, bench.user_id))
    return Result(
        message=f"Organization roles in {data['organization_name']} are now: "
        f"{', '.join(now) or 'none'}.",
        before={"organization": data["organization_name"], "roles": data["before_names"]},
        after={"organization": data["organization_name"], "roles": now},
        answer={"status": 204, "added": data["add"], "removed": data["remove"]},
    )


# --- one session, one refresh token ----------------------------------------------------------


def _has_sessions(bench: Workbench) -> str | None:
    refused = sessions_unavailable(bench)
    if refused is None and bench.sessions.value == []:
        return "The user has no session."
    return refused


def _has_tokens(bench: Workbench) -> str | None:
    refused = sessions_unavailable(bench)
    if refused is None and bench.refresh_tokens.value == []:
        return "The user has no refresh token."
    return refused


def _ids(items: Any) -> list[str]:
    return [str(i.get("id")) for i in items or []]


def _revoke_preview(bench: Workbench, data: Data) -> tuple[Change, Change]:
    return {"session": data["session"], "device": data["device"]}, {"session": "revoked"}


def _revoke_session(bench: Workbench, data: Data) -> Result:
    before = _ids(bench.sessions.value)
    revoke_session(str(data["session"]))
    left = [i for i in _ids(user_sessions(bench.user_id)) if i != data["session"]]
    return Result(
        message=f"Auth0 accepted: the session on {data['device']} and its refresh tokens are "
        f"revoked; the apps there ask the user to sign in again. "
        f"{counted(len(left), 'other session').capitalize()} stay signed in.",
        before={"session": data["session"], "device": data["device"], "sessions": len(before)},
        after={"session": "revoked", "sessions": len(left)},
        answer={"status": 202},
    )


def _revoke_token(bench: Workbench, data: Data) -> Result:
    before = _ids(bench.refresh_tokens.value)
    delete_refresh_token(str(data["session"]))
    left = [i for i in _ids(user_refresh_tokens(bench.user_id)) if i != data["session"]]
    return Result(
        message=f"Refresh token {data['session']} ({data['device']}) revoked: that app can no "
        f"longer renew its tokens. {counted(len(left), 'other refresh token').capitalize()} "
        "remain.",
        before={"refresh_token": data["session"], "refresh_tokens": len(before)},
        after={"refresh_token": "revoked", "refresh_tokens": len(left)},
        answer={"status": 204},
    )


ACCESS_ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (
        Action(
            "assign-role",
            "Assign a role",
            Capability.MANAGE_ROLES,
            "{user} gets the chosen role and every permission it grants in the apps that read "
            "roles.",
            applies_to=_may_get_a_role,
            preview=_assign_preview,
            perform=_assign_role,
            form_class=AssignRoleForm,
            button="Assign the role",
            places=(Place(Section.ROLES),),
            reads=("roles",),
        ),
        Action(
            "remove-role",
            "Remove a role",
            Capability.MANAGE_ROLES,
            "{user} loses the chosen role and the permissions that only it grants.",
            applies_to=_has_roles,
            preview=_remove_preview,
            perform=_remove_role,
            form_class=RemoveRoleForm,
            button="Remove the role",
            danger=True,
            places=(Place(Section.ROLES),),
            reads=("roles",),
        ),
        Action(
            "remove-membership",
            "Remove from an organization",
            Capability.MANAGE_ORGANIZATION_MEMBERS,
            "{user} leaves the chosen organization and its organization roles; the account "
            "and other memberships stay.",
            applies_to=_is_member,
            preview=_remove_member_preview,
            perform=_remove_membership,
            form_class=OrganizationForm,
            button="Remove from the organization",
            danger=True,
            confirm_tenant=True,
            places=(Place(Section.ORGANIZATIONS),),
            reads=("organizations",),
        ),
        Action(
            "organization-roles",
            "Change organization roles",
            Capability.MANAGE_ORGANIZATION_MEMBERS,
            "The roles of {user} within the chosen organization become the ones ticked.",
            applies_to=_is_member,
            preview=_org_roles_preview,
            perform=_change_org_roles,
            form_class=OrganizationRolesForm,
            button="Save the roles",
            places=(Place(Section.ORGANIZATIONS),),
            reads=("organizations",),
        ),
        Action(
            "revoke-session",
            "End one session",
            Capability.REVOKE_SESSIONS,
            "The chosen session of {user} and its refresh tokens are revoked; their other "
            "sessions stay signed in.",
            applies_to=_has_sessions,
            preview=_revoke_preview,
            perform=_revoke_session,
            form_class=RevokeSessionForm,
            button="End the session",
            danger=True,
            places=(Place(Section.SESSIONS),),
            reads=("sessions",),
        ),
        Action(
            "revoke-refresh-token",
            "Revoke one refresh token",
            Capability.REVOKE_SESSIONS,
            "The chosen refresh token of {user} stops working: that app must sign them in "
            "again when its access token expires.",
            applies_to=_has_tokens,
            preview=_revoke_preview,
            perform=_revoke_token,
            form_class=RevokeTokenForm,
            button="Revoke the token",
            danger=True,
            places=(Place(Section.SESSIONS),),
            reads=("sessions",),
        ),
    )
}
