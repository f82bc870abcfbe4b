"""What declaring a support action takes: the declaration (`Action`), where the user page offers
it (`Place`, `Section`), what its `perform` returns (`Result`) and the words its messages share.

The modules that say what actions do (users_admin.actions, and linking, profile and
access_actions, whose functions the declarations name) import this; users_admin.actions
assembles the declarations into ACTIONS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from staff.permissions import Capability

from .action_forms import ActionForm, ask_tenant_name
from .workbench import Workbench

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


def counted(number: int, thing: str) -> str:
    """ "1 session", "2 sessions", "no session"."""
    if number == 0:
        return f"no {thing}"
    return f"{number} {thing}{'s' if number != 1 else ''}"
