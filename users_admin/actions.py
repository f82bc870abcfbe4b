"""The support actions on a user at Auth0: each declared once, in ACTIONS below.

A declaration says everything about its action: its key (the URL's), title, capability (with
its label and the roles that get it), form, where the user page offers it, when it applies to a
user (and why not), its preview (before/after) and `perform`, which calls the Management API and
says what changed and what Auth0 answered. Permissions, role grants, permission codenames and
the user page follow from the declarations (see docs/development/extending.md).

Nothing here needs a request: `perform(action, user_id, data)` carries an action out anywhere
(a bulk run's worker). The request-bound parts, the form's idempotency token and the audit event,
are users_admin.execution's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from management_api import (
    Outcome,
    PermanentError,
    authentication_methods,
    clear_user_blocks,
    concurrently,
    create_password_change_ticket,
    current_tenant,
    delete_authentication_method,
    delete_authentication_methods,
    delete_user,
    delete_user_refresh_tokens,
    delete_user_sessions,
    get_user,
    invalidate_remember_browser,
    send_password_reset_email,
    send_verification_email,
    update_user,
    user_blocks,
    user_refresh_tokens,
    user_sessions,
)
from staff.permissions import SUPPORT_GROUP, SUPPORT_LEAD_GROUP, Capability

from . import linking, profile
from .access import access_calls
from .action_forms import (
    ActionForm,
    DeleteForm,
    MetadataForm,
    PasswordLinkForm,
    RemoveMfaForm,
    ask_tenant_name,
)
from .logtypes import method_words
from .workbench import Workbench, device_calls

TICKET_TTL_SECONDS = 86400
SUPPORT_ROLES: tuple[str, ...] = (SUPPORT_GROUP, SUPPORT_LEAD_GROUP)
LEAD_ROLES: tuple[str, ...] = (SUPPORT_LEAD_GROUP,)

Data = dict[str, Any]  # the action's form data (ActionForm.action_data)
Change = dict[str, Any]  # one side of a before/after


@dataclass
class Result:
    message: str
    before: Change = field(default_factory=dict)
    after: Change = field(default_factory=dict)
    answer: dict[str, Any] = field(default_factory=dict)  # what Auth0 answered (no secrets)
    secret: str = ""  # shown to the agent once, never stored (a password change link)
    job_id: str = ""  # a verification email job the outcome follows
    opens: str = ""  # another user the outcome offers to open (an unlinked account)


class Section(StrEnum):
    """Where on the user page an action's button sits."""

    STATUS = "status"  # beside a problem it fixes (declared by `Action.fixes`, not `places`)
    MENU = "menu"  # the Actions card
    MFA = "mfa"  # under the MFA methods
    APP_METADATA = "app_metadata"  # under each metadata object
    USER_METADATA = "user_metadata"
    ROLES = "roles"  # the access panels (templates/users_admin/_access.html)
    ORGANIZATIONS = "organizations"
    SESSIONS = "sessions"
    IDENTITIES = "identities"  # under the linked accounts
    DUPLICATES = "duplicates"  # beside each possible duplicate (users_admin.linking)


@dataclass(frozen=True)
class Place:
    section: Section
    text: str = ""  # the button's text; the action's title when empty
    query: str = ""  # appended to the action's URL: which form it opens ("which=app_metadata")


@dataclass(frozen=True)
class Action:
    name: str  # the key, in the URL /actions/<name>/<user id>/ and the audit's users.<name>
    title: str
    capability: Capability
    effect: str  # the confirmation's sentence; {user} is the user's label
    applies_to: Callable[[Workbench], str | None]  # None, or why it does not apply (a bulk skip)
    preview: Callable[[Workbench, Data], tuple[Change, Change]]  # (before, after), no call made
    perform: Callable[[Workbench, Data], Result]
    form_class: type[ActionForm] = ActionForm
    button: str = "Confirm"
    danger: bool = False
    # Destructive, what no later action puts back as it was (a deleted or linked-away user, an
    # unlinked identity's metadata, revoked sessions, a membership with its organization
    # roles, MFA enrolments, brute-force blocks): on a production tenant its form also asks for
    # the tenant's name, typed. A role removed is assigned again as it was: not guarded.
    confirm_tenant: bool = False
    places: tuple[Place, ...] = (Place(Section.MENU),)
    fixes: tuple[str, ...] = ()  # Problem keys (Workbench.problems) it fixes in the status panel
    # What it looks at besides the profile: "blocks", "methods", "sessions" (and refresh tokens)
    reads: tuple[str, ...] = ()
    removes_user: bool = False  # done, the user is gone: the outcome offers the search
    # Its form shows the user's data whole (the metadata editor): masked, it needs a reveal.
    shows_personal_data: bool = False

    def applies(self, bench: Workbench) -> bool:
        return self.applies_to(bench) is None

    def form(self, bench: Workbench, data: Any = None, params: Any = None) -> ActionForm:
        """Its form for this user: bound to POSTed `data`, or a new one (query `params`); a
        `confirm_tenant` action's asks for a production tenant's name too."""
        form = self.form_class.for_user(bench, data, params or {})
        if self.confirm_tenant:
            ask_tenant_name(form)
        return form


# The user page's access panels: each reads what its actions need when it is opened
# (users_admin/access_views.py), not with every view of the page.
PANEL_SECTIONS = frozenset({Section.ROLES, Section.ORGANIZATIONS, Section.SESSIONS})


def page_reads(actions: Iterable[Action]) -> set[str]:
    """What the user page reads for `actions` (those the staff member may take): the reads of
    the ones with a button outside the access panels."""
    return {
        read
        for action in actions
        if action.fixes or any(place.section not in PANEL_SECTIONS for place in action.places)
        for read in action.reads
    }


def counted(number: int, thing: str) -> str:
    """ "1 session", "2 sessions", "no session"."""
    if number == 0:
        return f"no {thing}"
    return f"{number} {thing}{'s' if number != 1 else ''}"


def _always(bench: Workbench) -> str | None:
    return None


# --- the user's state, outside a request ---------------------------------------------------


class NotApplicable(Exception):
    """The action does not apply to this user (the reason is the message)."""


def state(action: Action, user_id: str) -> Workbench | None:
    """What `action` looks at of a user: the profile and the side calls it `reads`, fetched
    concurrently. None when the user does not exist; raises the profile's ManagementApiError."""
    calls: dict[str, Callable[[], Any]] = {"profile": lambda: get_user(user_id)}
    if "sessions" in action.reads:
        calls.update(device_calls(user_id))
    if "blocks" in action.reads:
        calls["blocks"] = lambda: user_blocks(user_id)
    if "methods" in action.reads:
        calls["methods"] = lambda: authentication_methods(user_id)
    calls.update(access_calls(user_id, action.reads))
    results = concurrently(calls)
    profile = results.pop("profile")
    if profile.error is not None:
        raise profile.error
    if profile.value is None:
        return None
    side: dict[str, Outcome[Any]] = results
    return Workbench(user_id=user_id, profile=profile.value, **side)


def perform(action: Action, user_id: str, data: Data) -> Result:
    """Carry `action` out on `user_id` with no request: read its state, check, call Auth0.

    Raises NotApplicable (with the reason) and ManagementApiError. No audit, no idempotency:
    the caller records what it did (users_admin.execution does for the user page).
    """
    bench = state(action, user_id)
    if bench is None:
        raise NotApplicable("The user does not exist at Auth0.")
    reason = action.applies_to(bench)
    if reason is not None:
        raise NotApplicable(reason)
    return action.perform(bench, data)


# --- what each does at Auth0 ------------------------------------------------------------


def _set_blocked(blocked: bool) -> Callable[[Workbench, dict[str, Any]], Result]:
    def perform(bench: Workbench, data: dict[str, Any]) -> Result:
        updated = update_user(bench.user_id, {"blocked": blocked})
        return Result(
            message=(
                "Blocked: Auth0 refuses every sign-in of this user."
                if blocked
                else "Unblocked: the user can sign in again."
            ),
            before={"blocked": bool(bench.profile.get("blocked"))},
            after={"blocked": bool(updated.get("blocked"))},
            answer={"blocked": updated.get("blocked"), "updated_at": updated.get("updated_at")},
        )

    return perform


def _clear_blocks(bench: Workbench, data: dict[str, Any]) -> Result:
    clear_user_blocks(bench.user_id)
    remaining = user_blocks(bench.user_id) or []
    return Result(
        message=(
            "Brute-force blocks cleared: the user can sign in from those addresses again."
            if not remaining
            else f"Auth0 accepted, but {counted(len(remaining), 'block')} remain."
        ),
        before={"blocked_for": bench.brute_force_blocks},
        after={"blocked_for": remaining},
        answer={"status": 204},
    )


def _resend_verification(bench: Workbench, data: dict[str, Any]) -> Result:
    identity = None
    if not bench.is_database_user and bench.primary_identity:
        identity = {
            "user_id": str(bench.primary_identity.get("user_id")),
            "provider": bench.provider,
        }
    job = send_verification_email(bench.user_id, identity=identity)
    return Result(
        message=(
            f"Auth0 queued a verification email to {bench.email} "
            f"(job {job.get('id')}, {job.get('status')})."
        ),
        before={"email_verified": bench.profile.get("email_verified")},
        after={"email_verified": bench.profile.get("email_verified"), "job": job.get("id")},
        answer=dict(job),
        job_id=str(job.get("id") or ""),
    )


def _password_link(bench: Workbench, data: dict[str, Any]) -> Result:
    if data.get("mode") == "email":
        sentence = send_password_reset_email(bench.email, bench.connection)
        return Result(
            message=f"Auth0 is emailing a password reset link to {bench.email}: {sentence}",
            after={"reset_email": bench.email},
            answer={"message": sentence},
        )
    ticket = create_password_change_ticket(bench.user_id, ttl_sec=TICKET_TTL_SECONDS)
    parts = urlsplit(ticket)
    return Result(
        message=(
            "A password change link, valid 24 hours. It is shown this once: copy it to "
            "the user now (Auth0 has not emailed it)."
        ),
        after={"ticket_created": True},
        # The ticket is a credential: the audit keeps where it points, not the ticket itself.
        answer={"ticket": f"{parts.scheme}://{parts.netloc}{parts.path}?ticket=(shown once)"},
        secret=ticket,
    )


def _methods(methods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": m.get("id"), "type": m.get("type")} for m in methods]


def _method_named(methods: list[dict[str, Any]], method_id: str) -> str:
    kind = next((str(m["type"]) for m in methods if m["id"] == method_id), "")
    return f"{method_words(kind)} ({method_id})" if kind else method_id


def _remove_mfa(bench: Workbench, data: dict[str, Any]) -> Result:
    chosen = str(data.get("method") or "all")
    before = _methods(bench.mfa_methods)
    if chosen == "all":
        delete_authentication_methods(bench.user_id)
        invalidate_remember_browser(bench.user_id)
    else:
        delete_authentication_method(bench.user_id, chosen)
    after = _methods(authentication_methods(bench.user_id) or [])
    return Result(
        message=(
            "Every MFA method removed and remembered browsers forgotten: the user enrols "
            "again at the next sign-in."
            if chosen == "all"
            else f"MFA method {_method_named(before, chosen)} removed."
        ),
        before={"methods": before},
        after={"methods": after},
        answer={"status": 204, "removed": chosen},
    )


def _sign_out(bench: Workbench, data: dict[str, Any]) -> Result:
    before = {
        "sessions": len(user_sessions(bench.user_id)),
        "refresh_tokens": len(user_refresh_tokens(bench.user_id)),
    }
    delete_user_sessions(bench.user_id)
    delete_user_refresh_tokens(bench.user_id)
    # Auth0 revokes asynchronously, so a read right now may still list them: not re-read.
    after = {"sessions": "revoked", "refresh_tokens": "revoked"}
    return Result(
        message=(
            f"Auth0 accepted: {counted(before['sessions'], 'session')} and "
            f"{counted(before['refresh_tokens'], 'refresh token')} revoked; every app asks the "
            "user to sign in again (Auth0 applies it within moments)."
        ),
        before=before,
        after=after,
        answer={"status": 202},
    )


def _edit_metadata(bench: Workbench, data: dict[str, Any]) -> Result:
    which = str(data["which"])
    changes = dict(data["patch"])
    updated = update_user(bench.user_id, {which: changes})
    return Result(
        message=f"{which} saved.",
        before={which: dict(bench.profile.get(which) or {})},
        after={which: dict(updated.get(which) or {})},
        answer={"sent": {which: changes}, "updated_at": updated.get("updated_at")},
    )


def _delete(bench: Workbench, data: dict[str, Any]) -> Result:
    delete_user(bench.user_id)
    return Result(
        message=f"{bench.user_id} was deleted at Auth0.",
        before={"user_id": bench.user_id, "email": bench.email or None},
        after={"deleted": True},
        answer={"status": 204},
    )


# --- when each applies, and what it would change -------------------------------------------


def _not_blocked(bench: Workbench) -> str | None:
    return "The user is already blocked." if bench.profile.get("blocked") else None


def _blocked(bench: Workbench) -> str | None:
    return None if bench.profile.get("blocked") else "The user is not blocked."


def _has_blocks(bench: Workbench) -> str | None:
    return None if bench.brute_force_blocks else "The user has no brute-force block."


def _unverified(bench: Workbench) -> str | None:
    if not bench.email:
        return "The user has no email address."
    if not bench.can_verify_email:
        return f"Auth0 does not verify emails of {bench.provider} users."
    if bench.profile.get("email_verified") is True:
        return "The email address is already verified."
    return None


def _database_user_with_email(bench: Workbench) -> str | None:
    if not bench.is_database_user:
        return f"The user signs in with {bench.provider}, not with a password Auth0 keeps."
    if not bench.email:
        return "The user has no email address."  # Auth0 makes its links for an email
    return None


def sessions_unavailable(bench: Workbench) -> str | None:
    """Why this tenant cannot list or revoke sessions (its plan, or Auth0's 403), or None."""
    plan = current_tenant().plan
    if plan != "enterprise":
        return (
            "Auth0 lists and revokes sessions and refresh tokens on Enterprise plans only; "
            f"this tenant is on the {plan.capitalize()} plan."
        )
    refused = next(
        (o.error for o in (bench.sessions, bench.refresh_tokens) if o.error is not None), None
    )
    if isinstance(refused, PermanentError) and refused.status == 403:
        return f"Auth0 does not let this tenant manage sessions: {refused.message}"
    return None


def _signed_in_somewhere(bench: Workbench) -> str | None:
    refused = sessions_unavailable(bench)
    if refused is not None:
        return refused
    if bench.sessions.value == [] and bench.refresh_tokens.value == []:
        return "The user has no session and no refresh token: there is nothing to sign out."
    return None  # signed in somewhere, or not known (a failed read): Auth0 will say


def _has_mfa(bench: Workbench) -> str | None:
    return None if bench.mfa_methods else "The user has no MFA method enrolled."


def _blocked_preview(blocked: bool) -> Callable[[Workbench, Data], tuple[Change, Change]]:
    def preview(bench: Workbench, data: Data) -> tuple[Change, Change]:
        return {"blocked": bool(bench.profile.get("blocked"))}, {"blocked": blocked}

    return preview


def _clear_blocks_preview(bench: Workbench, data: Data) -> tuple[Change, Change]:
    return {"blocked_for": bench.brute_force_blocks}, {"blocked_for": []}


def _verification_preview(bench: Workbench, data: Data) -> tuple[Change, Change]:
    verified = {"email_verified": bench.profile.get("email_verified")}
    return verified, {**verified, "verification_email": bench.email}


def _password_link_preview(bench: Workbench, data: Data) -> tuple[Change, Change]:
    if data.get("mode") == "email":
        return {}, {"reset_email": bench.email}
    return {}, {"ticket_created": True}


def _remove_mfa_preview(bench: Workbench, data: Data) -> tuple[Change, Change]:
    chosen = str(data.get("method") or "all")
    before = _methods(bench.mfa_methods)
    after = [] if chosen == "all" else [m for m in before if m["id"] != chosen]
    return {"methods": before}, {"methods": after}


def _sign_out_preview(bench: Workbench, data: Data) -> tuple[Change, Change]:
    return {}, {"sessions": "revoked", "refresh_tokens": "revoked"}


def _metadata_preview(bench: Workbench, data: Data) -> tuple[Change, Change]:
    """Auth0 merges metadata one level deep, and a null deletes the key."""
    which = str(data["which"])
    before = dict(bench.profile.get(which) or {})
    after = {**before, **dict(data["patch"])}
    return {which: before}, {which: {k: v for k, v in after.items() if v is not None}}


def _delete_preview(bench: Workbench, data: Data) -> tuple[Change, Change]:
    return {"user_id": bench.user_id, "email": bench.email or None}, {"deleted": True}


# --- the declarations ----------------------------------------------------------------------

BLOCK_USERS = Capability(
    "block_users",
    label="blocking and unblocking users",
    description="Block and unblock users",
    roles=LEAD_ROLES,
)

LINK_ACCOUNTS = Capability(
    "link_accounts",
    label="linking and unlinking accounts",
    description=(
        "Link another account into a user (a possible duplicate, or any account by its user id) "
        "and unlink accounts"
    ),
    roles=LEAD_ROLES,
)

ACTIONS: dict[str, Action] = {
    action.name: action
    for action in (
        Action(
            "block",
            "Block this user",
            BLOCK_USERS,
            "{user} will not be able to sign in anywhere until unblocked.",
            applies_to=_not_blocked,
            preview=_blocked_preview(True),
            perform=_set_blocked(True),
            button="Block",
            danger=True,
        ),
        Action(
            "unblock",
            "Unblock this user",
            BLOCK_USERS,
            "{user} can sign in again (brute-force blocks are separate).",
            applies_to=_blocked,
            preview=_blocked_preview(False),
            perform=_set_blocked(False),
            button="Unblock",
            fixes=("admin-blocked",),
        ),
        Action(
            "clear-blocks",
            "Clear brute-force blocks",
            Capability(
                "clear_brute_force",
                label="clearing brute-force blocks",
                description="Clear a user's brute-force blocks",
                roles=SUPPORT_ROLES,
            ),
            "Auth0 forgets the failed sign-ins that locked {user} out, for every address.",
            applies_to=_has_blocks,
            preview=_clear_blocks_preview,
            perform=_clear_blocks,
            button="Clear blocks",
            confirm_tenant=True,
            fixes=("brute-force",),
            reads=("blocks",),
        ),
        Action(
            "resend-verification",
            "Resend the verification email",
            Capability(
                "resend_verification",
                label="resending verification emails",
                description="Resend a user's verification email",
                roles=SUPPORT_ROLES,
            ),
            "Auth0 sends {user} a new email with a link that verifies the address.",
            applies_to=_unverified,
            preview=_verification_preview,
            perform=_resend_verification,
            button="Send",
            fixes=("unverified",),
        ),
        Action(
            "password-link",
            "Send a password change link",
            Capability(
                "send_password_link",
                label="sending password change links",
                description="Send or show a password change link",
                roles=SUPPORT_ROLES,
            ),
            "{user} gets a link to choose a new password; the current one keeps working "
            "until then.",
            applies_to=_database_user_with_email,
            preview=_password_link_preview,
            perform=_password_link,
            form_class=PasswordLinkForm,
            button="Create the link",
        ),
        Action(
            "remove-mfa",
            "Remove MFA methods",
            Capability(
                "reset_mfa",
                label="removing MFA methods",
                description="Remove a user's MFA methods",
                roles=LEAD_ROLES,
            ),
            "The chosen MFA methods of {user} are deleted; this cannot be undone.",
            applies_to=_has_mfa,
            preview=_remove_mfa_preview,
            perform=_remove_mfa,
            form_class=RemoveMfaForm,
            button="Remove",
            danger=True,
            confirm_tenant=True,
            places=(Place(Section.MFA),),
            reads=("methods",),
        ),
        Action(
            "sign-out",
            "Sign out everywhere",
            Capability(
                "sign_out_everywhere",
                label="signing users out everywhere",
                description="Sign a user out everywhere",
                roles=LEAD_ROLES,
            ),
            "Every session and refresh token of {user} is revoked: every app asks them to "
            "sign in again.",
            applies_to=_signed_in_somewhere,
            preview=_sign_out_preview,
            perform=_sign_out,
            button="Sign out everywhere",
            danger=True,
            confirm_tenant=True,
            reads=("sessions",),
        ),
        Action(
            "edit-metadata",
            "Edit metadata",
            Capability(
                "edit_metadata",
                label="editing user and app metadata",
                description="Edit a user's user_metadata and app_metadata",
                roles=LEAD_ROLES,
            ),
            "Only the keys you change in the metadata of {user} are sent to Auth0 (see the "
            "diff first); a key changed at Auth0 meanwhile is shown to you before it is "
            "overwritten.",
            applies_to=_always,
            preview=_metadata_preview,
            perform=_edit_metadata,
            form_class=MetadataForm,
            button="Save",
            shows_personal_data=True,
            places=tuple(
                Place(section, f"Edit {section}", f"which={section}")
                for section in (Section.APP_METADATA, Section.USER_METADATA)
            ),
        ),
        Action(
            "edit-profile",
            "Change the profile",
            Capability(
                "edit_profiles",
                label="changing users' email, username, phone number and names",
                description="Change a user's email, username, phone number, names and picture",
                roles=LEAD_ROLES,
            ),
            "Only the fields you change are sent to Auth0; an emptied field is removed from "
            "{user}'s profile. Auth0 refuses what the connection does not allow.",
            applies_to=profile.applies,
            preview=profile.preview,
            perform=profile.perform,
            form_class=profile.ProfileForm,
            button="Save the changes",
        ),
        Action(
            "link-account",
            "Link another account into this user",
            LINK_ACCOUNTS,
            "The other account becomes one of {user}'s identities: signing in with it gives "
            "{user}'s user id. Its own user id and its metadata (unless kept below) are gone.",
            applies_to=linking.link_applies,
            preview=linking.link_preview,
            perform=linking.link,
            form_class=linking.LinkForm,
            button="Link the accounts",
            danger=True,
            confirm_tenant=True,
            places=(
                Place(Section.DUPLICATES, "Link it into this user"),
                Place(Section.IDENTITIES, "Link another account by its user id"),
            ),
        ),
        Action(
            "unlink-account",
            "Unlink an account",
            LINK_ACCOUNTS,
            "The chosen identity leaves {user} and becomes a user of its own again, with no "
            "metadata; signing in with it no longer gives {user}.",
            applies_to=linking.unlink_applies,
            preview=linking.unlink_preview,
            perform=linking.unlink,
            form_class=linking.UnlinkForm,
            button="Unlink",
            danger=True,
            confirm_tenant=True,
            places=(Place(Section.IDENTITIES, "Unlink an account"),),
        ),
        Action(
            "delete",
            "Delete this user",
            Capability(
                "delete_users",
                label="deleting users",
                description="Delete users (only with USERDESK_ALLOW_USER_DELETE)",
                roles=LEAD_ROLES,
                setting="USERDESK_ALLOW_USER_DELETE",
            ),
            "{user} is deleted at Auth0 with their sessions and refresh tokens. This cannot "
            "be undone.",
            applies_to=_always,
            preview=_delete_preview,
            perform=_delete,
            form_class=DeleteForm,
            button="Delete for ever",
            danger=True,
            confirm_tenant=True,
            removes_user=True,
        ),
    )
}


# Roles, organizations, single sessions: declared in their own module, offered like these.
from .access_actions import ACCESS_ACTIONS  # noqa: E402

ACTIONS.update(ACCESS_ACTIONS)
