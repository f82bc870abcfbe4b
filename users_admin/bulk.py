"""Bulk actions: what each does to one user of a run, and the preview of a whole run.

Each bulk action is a support action of users_admin.actions (its applies_to, preview and
perform) with what a run adds: fixed form data, the Management API calls it makes per user
(for the duration), the side effects worth a warning (as Auth0's documentation states them, e.g.
https://auth0.com/docs/manage-users/user-accounts/block-and-unblock-users), and whether it can
be undone. The metadata action previews only the keys it sets or removes (undo restores them).

A preview reads only the run's snapshot: nothing reaches Auth0 until the run is started.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from management_api import pacing
from staff.audit import record_for
from staff.permissions import Capability

from . import bulk_rows
from .actions import ACTIONS as SINGLE_ACTIONS
from .actions import Action, Change
from .models import BulkItem, BulkOutcome, BulkRun, BulkRunStatus
from .workbench import Workbench

Profile = dict[str, Any]
Params = dict[str, Any]
# An undo run's item keeps, in its profile, the patch that restores it and the values the run
# left (a user whose values differ now was changed by someone else since: skipped).
UNDO = "_undo"
INVERSE = {"block": "unblock", "unblock": "block", "metadata": "metadata"}
# Bytes of a block in which the preview counts each telling text, to try the rarest.
RARITY_SAMPLE = 1 << 16
# A metadata key or string value written the same way by every JSON encoder (no character it
# may escape).
PLAIN_KEY = re.compile(r"[A-Za-z0-9_.:@+-]+")


@dataclass(frozen=True)
class BulkAction:
    """A support action (users_admin.actions) as a bulk run takes it: with fixed form data,
    the calls it makes per user, and the side effects worth a warning."""

    name: str
    title: str
    single: str  # its users_admin.actions.ACTIONS key
    calls: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...] = ()
    data: Params = field(default_factory=dict)  # fixed form data (password-link's mode...)
    bulk_capability: Capability | None = None  # instead of the single action's
    also_needs: Callable[[Profile], str | None] = lambda profile: None
    undoable: bool = False
    # The profile's fields applies_to reads (None: any of them): a preview decodes only those.
    fields: tuple[str, ...] | None = None

    @property
    def action(self) -> Action:
        return SINGLE_ACTIONS[self.single]

    @property
    def capability(self) -> Capability:
        return self.bulk_capability or self.action.capability

    def bench(self, user_id: str, profile: Profile) -> Workbench:
        return Workbench(user_id=user_id, profile=profile)

    def applies_to(self, user_id: str, profile: Profile, params: Params) -> str | None:
        """None when it changes the user (as far as the snapshot shows), else why not. What an
        action reads besides the profile (blocks, MFA methods) is checked when the run
        reaches the user."""
        if self.single == "edit-metadata":
            return "The user already has these values." if has_patch(profile, params) else None
        if self.action.reads:
            return None
        return self.action.applies_to(self.bench(user_id, profile)) or self.also_needs(profile)

    def reads(self, params: Params) -> tuple[str, ...] | None:
        """The profile's fields applies_to reads besides the user id and email (None: any of
        them): the preview of a million users decodes only those."""
        if self.single == "edit-metadata":
            return (str(params["which"]), UNDO) if params.get("undo") else (str(params["which"]),)
        if self.action.reads:
            return ()
        return self.fields

    def telling_texts(self, params: Params) -> tuple[bytes, ...]:
        """JSON texts each of whose absence from a user's line (users_admin.bulk_rows) proves
        that applies_to finds a change, so the preview need not decode the user (none: the
        action has no such proof).

        The metadata action changes every user who lacks a key its patch sets, or whose value
        there is not the patch's. In a line that holds no \\u escape, a key or string written
        the same way by every JSON encoder (PLAIN_KEY), and true and false, appear as their
        JSON text wherever they are: where the text is missing, so is the key, or the value."""
        if self.single != "edit-metadata" or params.get("undo"):
            return ()
        texts: list[bytes] = []
        for key, value in params["patch"].items():
            if value is None or not PLAIN_KEY.fullmatch(key):
                continue
            texts.append(orjson.dumps(key))
            if isinstance(value, bool) or (isinstance(value, str) and PLAIN_KEY.fullmatch(value)):
                texts.append(orjson.dumps(value))
        return tuple(texts)

    def preview(self, user_id: str, profile: Profile, params: Params) -> tuple[Change, Change]:
        if self.single == "edit-metadata":
            return metadata_change(profile, params)
        if self.action.reads:
            return {}, {"checked": "when the run reaches the user"}
        return self.action.preview(self.bench(user_id, profile), {**self.data, **params})

    def form_data(self, params: Params, profile: Profile) -> Params:
        """What users_admin.actions.perform takes for this user of the run."""
        data = {**self.data, **params}
        if params.get("undo"):
            data["patch"] = patch_for(profile, params)
        return data


def patch_for(profile: Profile, params: Params) -> Params:
    """The metadata patch for this user: the run's, or an undo's own per user."""
    if params.get("undo"):
        return dict(profile[UNDO]["patch"])
    return dict(params["patch"])


def metadata_change(profile: Profile, params: Params) -> tuple[Change, Change]:
    """(before, after) of the patched keys only; an absent key is left out of its side."""
    which, patch = str(params["which"]), patch_for(profile, params)
    current = dict(profile.get(which) or {})
    before = {key: current[key] for key in patch if key in current}
    after = {key: value for key, value in patch.items() if value is not None}
    return {which: before}, {which: after}


def has_patch(profile: Profile, params: Params) -> bool:
    """Whether the user's metadata already reads as the patch would leave it (metadata_change's
    before and after alike), worked out without building them: the preview asks it of each of
    a million users."""
    current = profile.get(str(params["which"])) or {}
    patch = profile[UNDO]["patch"] if params.get("undo") else params["patch"]
    for key, value in patch.items():
        if value is None:
            if key in current:
                return False
        elif key not in current or current[key] != value:
            return False
    return True


def _has_email(profile: Profile) -> str | None:
    return None if profile.get("email") else "The user has no email address."


USER = "/api/v2/users/{id}"
SIGN_OUT_WARNING = (
    "Blocking does not end the sessions and refresh tokens users already hold (no Auth0 "
    "source says it does): for compromised accounts, sign them out everywhere too."
)
ACTIONS: dict[str, BulkAction] = {
    action.name: action
    for action in (
        BulkAction(
            "block",
            "Block",
            "block",
            (("PATCH", USER),),
            (
                "Auth0 refuses every sign-in of a blocked user until unblocked; an admin block "
                "never expires on its own.",
                SIGN_OUT_WARNING,
                "A password reset through the Management API also lifts an admin block.",
            ),
            undoable=True,
            fields=("blocked",),
        ),
        BulkAction(
            "unblock",
            "Unblock",
            "unblock",
            (("PATCH", USER),),
            ("Unblocking does not lift brute-force blocks: clear those with their own run.",),
            undoable=True,
            fields=("blocked",),
        ),
        BulkAction(
            "metadata",
            "Set or remove metadata keys",
            "edit-metadata",
            (("PATCH", USER),),
            (
                "Auth0 merges only the first level: a key sent replaces that key's whole value "
                "(nested objects are not merged), and null deletes the key.",
                "Rules and Actions that read app_metadata see the new values at the next sign-in.",
            ),
            undoable=True,
        ),
        BulkAction(
            "resend-verification",
            "Resend the verification email",
            "resend-verification",
            (("POST", "/api/v2/jobs/verification-email"),),
            (
                "Each user gets an email from the tenant's email provider, whose own sending "
                "limits apply; a social provider may overwrite email_verified at sign-in.",
            ),
            fields=("email_verified", "identities"),
        ),
        BulkAction(
            "password-email",
            "Send the password change email",
            "password-link",
            (("POST", "/dbconnections/change_password"),),
            (
                "Each user gets Auth0's reset email; the current password keeps working until "
                "they choose a new one, and choosing one ends their sessions and lifts their "
                "brute-force blocks.",
                "Auth0 limits this endpoint to one email a minute per address and caller IP.",
            ),
            data={"mode": "email"},
            also_needs=_has_email,
            fields=("identities",),
        ),
        BulkAction(
            "remove-mfa",
            "Remove every MFA method",
            "remove-mfa",
            (
                ("DELETE", "/api/v2/users/{id}/authentication-methods"),
                ("POST", "/api/v2/users/{id}/multifactor/actions/invalidate-remember-browser"),
            ),
            (
                "This cannot be undone: users enrol again at their next sign-in, as if new.",
                "Auth0 refuses it (403) for users who registered a passkey; those fail.",
            ),
            data={"method": "all"},
        ),
        BulkAction(
            "sign-out",
            "Sign out everywhere",
            "sign-out",
            (
                ("DELETE", "/api/v2/users/{id}/sessions"),
                ("DELETE", "/api/v2/users/{id}/refresh-tokens"),
            ),
            (
                "Every app asks these users to sign in again; Auth0 revokes asynchronously, "
                "within moments. The session endpoints answer on Enterprise tenants only.",
            ),
        ),
        BulkAction(
            "clear-blocks",
            "Clear brute-force blocks",
            "clear-blocks",
            (("DELETE", "/api/v2/user-blocks/{id}"),),
            ("Admin blocks stay: clearing brute-force blocks does not unblock a user.",),
        ),
        BulkAction(
            "delete",
            "Delete",
            "delete",
            (("DELETE", USER),),
            (
                "This cannot be undone: each user is deleted at Auth0 with their sessions and "
                "refresh tokens, and every delete needs a second lead's approval.",
            ),
            bulk_capability=Capability.RUN_BULK_DELETES,
        ),
    )
}


# --- the preview of a run ------------------------------------------------------------------


def calls_per_user(action: BulkAction) -> tuple[tuple[str, str], ...]:
    """The Management API calls a run makes per user: a read of what the action looks at, then
    its own calls."""
    return (("GET", USER), *action.calls)


def users_per_second(tenant: str, action: BulkAction) -> float:
    """Users a second a run of `action` may send on this tenant: each call takes a slot of its
    bucket's bulk budget (management_api.pacing: the tenant's plan's rate less the interactive
    reserve), so the bucket a user costs the most time in sets the pace."""
    plan = pacing.tenant_plan(tenant)
    seconds: dict[str, float] = {}
    for method, path in calls_per_user(action):
        bucket = pacing.bucket_for(method, path, plan)
        rate = pacing.bulk_rate(pacing.rate_for(plan, bucket))
        seconds[bucket] = seconds.get(bucket, 0.0) + 1 / rate.per_second
    return 1 / max(seconds.values())


def expected_seconds(run: BulkRun, action: BulkAction, changes: int) -> int:
    return round(changes / users_per_second(run.tenant, action))


# A run's action may be chosen again until the run is requested.
CHOOSABLE = (BulkRunStatus.SELECTED, BulkRunStatus.PREVIEWING, BulkRunStatus.PREVIEWED)


def choose(run: BulkRun, action: BulkAction, params: Params, reason: str, ticket: str) -> bool:
    """Set the run's action and start its preview; False when it is no longer editable: once
    requested, or an undo (its action and each user's restoring patch are the undone run's; a
    choice would replace them with the form's one patch, the run's own values set again)."""
    editable = BulkRun.objects.filter(pk=run.pk, status__in=CHOOSABLE)
    updated = editable.exclude(source=BulkRun.Source.UNDO).update(
        action=action.name,
        params=params,
        reason=reason,
        ticket=ticket,
        status=BulkRunStatus.PREVIEWING,
        preview_version=run.preview_version + 1,
        change_count=None,
        skip_counts={},
        expected_seconds=None,
        updated_at=timezone.now(),
    )
    run.refresh_from_db()
    return bool(updated)


def compute_preview(run_id: int, version: int) -> None:
    """Each user's skip reason, then the run's counts: from the snapshot, reading the run's
    blocks (users_admin.bulk_rows) as they stream and marking the skipped users in theirs, so a
    1,000,000-user preview costs one read of its thousand blocks. What a changed user's
    before/after will be follows from its profile and the run's params alone: `planned` works it
    out for the page's sample."""
    run = BulkRun.objects.filter(
        pk=run_id, status=BulkRunStatus.PREVIEWING, preview_version=version
    ).first()
    if run is None:
        return
    action = ACTIONS[run.action]
    skips: dict[int, dict[str, str]] = {}
    counts: Counter[str] = Counter()
    changes = 0
    for block, users in _users_to_check(run, action):
        for offset, user in users:
            if user is None:  # a change, as its line shows
                changes += 1
                continue
            user_id, email, profile = user
            profile["email"], profile["user_id"] = email, user_id
            reason = action.applies_to(user_id, profile, run.params)
            if reason:
                skips.setdefault(block.first, {})[str(offset)] = reason
                counts[reason] += 1
            else:
                changes += 1
    with transaction.atomic():
        current = BulkRun.objects.select_for_update().filter(
            pk=run.pk, status=BulkRunStatus.PREVIEWING, preview_version=version
        )
        if not current.exists():
            return
        bulk_rows.set_skips(run, skips)
        current.update(
            status=BulkRunStatus.PREVIEWED,
            change_count=changes,
            skip_counts=dict(counts.most_common()),
            expected_seconds=expected_seconds(run, action, changes),
            updated_at=timezone.now(),
        )


def _users_to_check(
    run: BulkRun, action: BulkAction
) -> Iterator[tuple[Any, Iterable[tuple[int, bulk_rows.User | None]]]]:
    """Each block of the run with its users (offset, user), decoded with only the fields the
    action reads; a user None where their line alone proves the action changes them
    (BulkAction.telling_texts: the rarest of them in the block is tried on its lines, after
    the whole block): the preview of a million users setting a new key decodes none of them."""
    texts = action.telling_texts(run.params)
    fields = action.reads(run.params)
    if not texts:
        for block, users in bulk_rows.blocks(run, fields):
            yield block, enumerate(users)
        return
    for block in bulk_rows.stored_blocks(run):
        data = bulk_rows.data_of(block)
        escaped = b"\\u" in data
        if not escaped and any(text not in data for text in texts):
            yield block, ((offset, None) for offset in range(block.size))
            continue
        # The rarest text, as the block's first users show it, tells the most.
        text = min(texts, key=lambda t: data.count(t, 0, RARITY_SAMPLE))
        lines = data.split(b"\n")
        if escaped:
            shown = [text not in line and b"\\u" not in line for line in lines]
        else:
            shown = [text not in line for line in lines]
        unshown = [line for line, s in zip(lines, shown, strict=True) if not s]
        read = iter(bulk_rows.read_lines(unshown, fields))
        yield block, [(offset, None if s else next(read)) for offset, s in enumerate(shown)]


def planned(run: BulkRun, item: BulkItem) -> tuple[Change, Change]:
    """What the run's action changes for this user (before, after), as the preview plans it:
    from the snapshot's profile and the run's params alone (nothing reaches Auth0). A user the
    run has sent shows what Auth0's answer gave instead."""
    if item.outcome == BulkOutcome.DONE or item.skip_reason:
        return item.before, item.after
    profile = {**item.profile, "email": item.email, "user_id": item.user_id}
    return ACTIONS[run.action].preview(item.user_id, profile, run.params)


def one_user_delete(user: Any, user_id: str, profile: Profile, reason: str) -> tuple[BulkRun, str]:
    """The user page's delete while USERDESK_DELETE_NEEDS_APPROVAL is on: a run of that one
    user, previewed from the profile the page read and requested at once, so it waits for a
    second lead's approval like every delete run. The run, and why it was not requested ("" when
    it was)."""
    now = timezone.now()
    run = BulkRun.objects.create(
        source=BulkRun.Source.LIST,
        list_name=f"the user page of {user_id}"[:255],
        requested_by=user,
        requested_by_label=user.get_username(),
        status=BulkRunStatus.PREVIEWING,
        action="delete",
        reason=reason,
        selected_count=1,
        snapshot_at=now,
        preview_version=1,
        selection_key="user:" + hashlib.sha256(user_id.encode()).hexdigest()[:40],
    )
    with bulk_rows.BlockWriter(run) as writer:
        writer.add_user(user_id, str(profile.get("email") or ""), profile)
    compute_preview(run.pk, run.preview_version)
    run.refresh_from_db()
    return run, request_run(run, user)


# --- four eyes -----------------------------------------------------------------------------


def request_run(run: BulkRun, user: Any) -> str:
    """Ask for the previewed run to be carried out: it waits for approval when it must, else it
    is queued at once. An empty string when done, else why not."""
    if run.status != BulkRunStatus.PREVIEWED:
        return "Only a previewed run can be requested."
    if not run.change_count:
        return "The preview changes no user: there is nothing to run."
    now = timezone.now()
    fields: dict[str, Any] = {
        "requested_by": user,
        "requested_by_label": user.get_username(),
        "requested_at": now,
        "updated_at": now,
    }
    if run.needs_approval:
        fields.update(
            status=BulkRunStatus.PENDING,
            expires_at=now + timedelta(seconds=settings.BULK_APPROVAL_TTL),
        )
    else:
        fields.update(status=BulkRunStatus.QUEUED, decided_at=now)
    try:
        with transaction.atomic():
            updated = BulkRun.objects.filter(pk=run.pk, status=BulkRunStatus.PREVIEWED).update(
                **fields
            )
    except IntegrityError:
        other = BulkRun.objects.filter(
            tenant=run.tenant,
            selection_key=run.selection_key,
            action=run.action,
            status=BulkRunStatus.PENDING,
        ).first()
        number = f"#{other.pk}" if other else "with them"
        return f"Run {number} with the same users and action already waits for approval."
    run.refresh_from_db()
    return "" if updated else "Only a previewed run can be requested."


def approve(run: BulkRun, user: Any) -> bool:
    """Approve a pending run that has not expired: it is queued to start."""
    now = timezone.now()
    updated = BulkRun.objects.filter(
        pk=run.pk, status=BulkRunStatus.PENDING, expires_at__gt=now
    ).update(
        status=BulkRunStatus.QUEUED,
        approved_by=user,
        approved_by_label=user.get_username(),
        decided_at=now,
        updated_at=now,
    )
    run.refresh_from_db()
    return bool(updated)


def reject(run: BulkRun, user: Any, reason: str) -> bool:
    now = timezone.now()
    updated = BulkRun.objects.filter(pk=run.pk, status=BulkRunStatus.PENDING).update(
        status=BulkRunStatus.REJECTED,
        approved_by=user,
        approved_by_label=user.get_username(),
        rejection_reason=reason,
        decided_at=now,
        updated_at=now,
    )
    run.refresh_from_db()
    return bool(updated)


def expire_pending(**only: Any) -> list[int]:
    """Pending runs whose approval time ran out become expired (their ids)."""
    now = timezone.now()
    due = BulkRun.objects.filter(status=BulkRunStatus.PENDING, expires_at__lte=now, **only)
    expired = []
    for run_id in due.values_list("pk", flat=True):
        if BulkRun.objects.filter(pk=run_id, status=BulkRunStatus.PENDING).update(
            status=BulkRunStatus.EXPIRED, updated_at=now
        ):
            record_for(None, None, "bulk.expired", f"Bulk run #{run_id}", actor_label="Userdesk")
            expired.append(run_id)
    return expired
