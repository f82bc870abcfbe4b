"""Personal data shown only as far as needed (issue 20, deliver 2).

PII_MASKED_FIELDS names keys (phone numbers, IP addresses, user agents by default) whose values
are shown masked wherever they appear in what the user pages show: the profile (identities'
profile data too), the logs, brute-force blocks and MFA methods; PII_MASKED_METADATA_KEYS names
keys of app_metadata and user_metadata. A staff member without the capability "seeing personal
data unmasked" sees them masked until they reveal the user, with a reason code and a ticket
reference, for PII_REVEAL_MINUTES (a Reveal row, an audit event on the user's timeline).

Masking works on copies of what Auth0 answered, before any template sees it: every page and
partial that shows the data shows the masked copy, with no template of its own to change.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.utils import timezone

from management_api import LogPage
from management_api.tenants import current_tenant_slug
from staff.permissions import Capability, can, sees_personal_data

from .pii_models import Reveal
from .workbench import Workbench

MASK = "•••••• (masked)"
METADATA = ("app_metadata", "user_metadata")
REVEALED = "users.reveal"


def masked_fields() -> frozenset[str]:
    return frozenset(settings.PII_MASKED_FIELDS)


def masked_metadata_keys() -> frozenset[str]:
    return frozenset(settings.PII_MASKED_METADATA_KEYS)


def masked_names() -> list[str]:
    """The masked keys, then the masked metadata keys ("metadata: birthdate")."""
    metadata = [f"metadata: {key}" for key in sorted(masked_metadata_keys())]
    return sorted(masked_fields()) + metadata


def _masked(
    value: Any, keys: frozenset[str], metadata_keys: frozenset[str], values: frozenset[str]
) -> Any:
    if isinstance(value, list):
        return [_masked(item, keys, metadata_keys, values) for item in value]
    if not isinstance(value, dict):
        return MASK if isinstance(value, str) and value in values else value
    copy: dict[str, Any] = {}
    for key, item in value.items():
        if key in keys and item not in (None, ""):
            copy[key] = MASK
        elif key in METADATA and metadata_keys:
            copy[key] = _masked(item, keys | metadata_keys, frozenset(), values)
        elif isinstance(item, dict | list):
            copy[key] = _masked(item, keys, metadata_keys, values)
        else:
            copy[key] = MASK if isinstance(item, str) and item in values else item
    return copy


def _masked_values(value: Any, keys: frozenset[str], metadata_keys: frozenset[str]) -> set[str]:
    """The texts the masked keys hold, at any depth (as `_masked` finds the keys)."""
    if isinstance(value, list):
        return {text for item in value for text in _masked_values(item, keys, metadata_keys)}
    if not isinstance(value, dict):
        return set()
    found: set[str] = set()
    for key, item in value.items():
        if key in keys and isinstance(item, str) and item:
            found.add(item)
        elif key in METADATA and metadata_keys:
            found |= _masked_values(item, keys | metadata_keys, frozenset())
        else:
            found |= _masked_values(item, keys, metadata_keys)
    return found


def mask(value: Any) -> Any:
    """A copy of `value` (a profile, a log event, a list of them) with the masked keys' values
    replaced by MASK, at any depth; metadata keys only inside the two metadata objects. A text
    a masked key holds is masked wherever else it stands whole: Auth0 names a passwordless SMS
    user by their phone number (`name`, `nickname`)."""
    keys, metadata_keys = masked_fields(), masked_metadata_keys()
    values = frozenset(_masked_values(value, keys, metadata_keys))
    return _masked(value, keys, metadata_keys, values)


def active_reveal(staff: AbstractUser | AnonymousUser, user_id: str) -> Reveal | None:
    """This staff member's reveal of this user on this tenant still in force, if any."""
    if not staff.is_authenticated:
        return None
    return (
        Reveal.objects.filter(
            staff_id=staff.pk,
            tenant=current_tenant_slug(),
            user_id=user_id,
            expires_at__gt=timezone.now(),
        )
        .order_by("-expires_at")
        .first()
    )


@dataclasses.dataclass(frozen=True)
class Masking:
    """What one staff member sees of one user: masked or not, and until when revealed."""

    masked: bool
    revealed_until: datetime | None = None

    @property
    def fields(self) -> list[str]:
        """What is masked, in the words of the settings (for the notice and the reveal)."""
        return masked_names()

    @property
    def applies(self) -> bool:
        """Whether anything is masked here at all (nothing is with the capability)."""
        return self.masked or self.revealed_until is not None

    def apply(self, value: Any) -> Any:
        return mask(value) if self.masked else value


def masking_for(staff: AbstractUser | AnonymousUser, user_id: str) -> Masking:
    if can(staff, Capability.SEE_PERSONAL_DATA):
        return Masking(masked=False)
    reveal = active_reveal(staff, user_id)
    if sees_personal_data(staff, revealed=reveal is not None):
        return Masking(masked=False, revealed_until=reveal.expires_at if reveal else None)
    return Masking(masked=True)


def masked_logs(logs: LogPage | None, masking: Masking) -> LogPage | None:
    if logs is None or not masking.masked:
        return logs
    return dataclasses.replace(logs, events=mask(list(logs.events)))


def masked_bench(bench: Workbench, masking: Masking) -> Workbench:
    """The workbench as this staff member may see it: profile, logs, blocks, MFA methods."""
    if not masking.masked:
        return bench
    return dataclasses.replace(
        bench,
        profile=mask(bench.profile),
        logs=dataclasses.replace(bench.logs, value=masked_logs(bench.logs.value, masking)),
        blocks=dataclasses.replace(bench.blocks, value=mask(bench.blocks.value)),
        methods=dataclasses.replace(bench.methods, value=mask(bench.methods.value)),
        sessions=dataclasses.replace(bench.sessions, value=mask(bench.sessions.value)),
        refresh_tokens=dataclasses.replace(
            bench.refresh_tokens, value=mask(bench.refresh_tokens.value)
        ),
    )


def _revealed(staff: AbstractUser | AnonymousUser, ids: Iterable[str]) -> set[str]:
    """Which of these users this staff member revealed, the reveal still in force."""
    return set(
        Reveal.objects.filter(
            staff_id=staff.pk,
            tenant=current_tenant_slug(),
            user_id__in=list(ids),
            expires_at__gt=timezone.now(),
        ).values_list("user_id", flat=True)
    )


def masked_users(staff: AbstractUser | AnonymousUser, users: Iterable[Any]) -> list[Any]:
    """Search and lookup results: each user masked unless this member sees them unmasked."""
    users = list(users)
    if can(staff, Capability.SEE_PERSONAL_DATA):
        return users
    shown = [mask(user) for user in users]
    # A reveal matters only for a user with something masked (the columns shown often hold
    # nothing masked: then no reveal is looked up).
    hidden = [
        str(user.get("user_id") or "")
        for user, copy in zip(users, shown, strict=True)
        if isinstance(user, dict) and copy != user
    ]
    revealed = _revealed(staff, hidden) if hidden else set()
    return [
        user if isinstance(user, dict) and user.get("user_id") in revealed else copy
        for user, copy in zip(users, shown, strict=True)
    ]


def masked_export_fields(fields: Iterable[str]) -> list[str]:
    """The export's fields that hold masked data: a masked key anywhere in the path, a masked
    metadata key under a metadata object, or a whole metadata object with masked keys set."""
    keys, metadata_keys = masked_fields(), masked_metadata_keys()
    found = []
    for field in fields:
        parts = [part.split("[", 1)[0] for part in field.split(".")]
        in_metadata = parts[0] in METADATA and bool(metadata_keys)
        if any(part in keys for part in parts) or (
            in_metadata and (len(parts) == 1 or any(p in metadata_keys for p in parts[1:]))
        ):
            found.append(field)
    return found


# --- Bulk runs (users_admin.bulk_views) -------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ShownItem:
    """A user of a bulk run as a staff member may see them: `user_id` and `email` masked when
    PII_MASKED_FIELDS names them, the before and after values like a profile; `link` is the
    user page's id, None when the id itself is masked."""

    user_id: str
    email: str
    before: Any
    after: Any
    skip_reason: str
    link: str | None


def shown_items(staff: AbstractUser | AnonymousUser, items: Iterable[Any]) -> list[ShownItem]:
    """A bulk run's users on its page (preview sample, first users): masked as the user page
    masks them, unless this member sees personal data unmasked or revealed the user."""
    items = list(items)
    everything = can(staff, Capability.SEE_PERSONAL_DATA)
    revealed = set() if everything else _revealed(staff, (item.user_id for item in items))
    shown = []
    for item in items:
        before, after = getattr(item, "before", {}), getattr(item, "after", {})
        ids = {"user_id": item.user_id, "email": item.email}
        if not (everything or item.user_id in revealed):
            ids, before, after = mask(ids), mask(before), mask(after)
        shown.append(
            ShownItem(
                user_id=ids["user_id"],
                email=ids["email"],
                before=before,
                after=after,
                skip_reason=item.skip_reason,
                link=item.user_id if ids["user_id"] == item.user_id else None,
            )
        )
    return shown


def shown_entry(entry: str, candidates: list[str]) -> tuple[str, list[str]]:
    """An unknown or ambiguous line of a list (an email, else a user id) and the user ids it
    matches, masked for a member who sees personal data masked."""
    keys = masked_fields()
    kind = "email" if "@" in entry else "user_id"
    return (
        MASK if kind in keys and entry else entry,
        [MASK for _ in candidates] if "user_id" in keys else candidates,
    )


def masks_bulk_results(staff: AbstractUser | AnonymousUser) -> bool:
    """Whether a bulk run's result file is masked for this member: a file of many users is
    unmasked only with the capability (a reveal unmasks one user, never a file)."""
    return not can(staff, Capability.SEE_PERSONAL_DATA)
