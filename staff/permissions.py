"""The one place that decides who may do what.

Views declare the capability they need with @requires(Capability.X); templates ask
through the `can` context variable. Nothing else checks permissions.

A capability is declared once, below, with its label, its Django permission's description and
the roles that get it: the product's own, then the support actions' (each action in
users_admin/actions.py names its capability, `Capability.BLOCK_USERS`). Declaring them here, not
in the apps that use them, keeps this module and staff.models free of any import of those apps.
Everything else follows from the declarations: `Capability.X` and
`for cap in Capability`, the roles' grants (ROLE_CAPABILITIES), and the permission codenames of
staff.models.StaffCapability (so `makemigrations` follows a new declaration).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import wraps
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar, cast

from django.conf import settings
from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from management_api.tenants import (
    Tenant,
    all_tenants,
    current_tenant_slug_or_blank,
    tenant_scope,
)

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

SUPPORT_GROUP = "Support"
SUPPORT_LEAD_GROUP = "Support lead"
EXPORT_ADMIN_GROUP = "Export admin"
ROLE_NAMES = (SUPPORT_GROUP, SUPPORT_LEAD_GROUP, EXPORT_ADMIN_GROUP)


class _Declared(type):
    """`Capability.SEARCH_USERS` and `for cap in Capability`, over every declared capability."""

    _declared: dict[str, Capability]

    def __iter__(cls) -> Iterator[Capability]:
        return iter(list(cls._declared.values()))

    def __len__(cls) -> int:
        return len(cls._declared)

    def __getattr__(cls, name: str) -> Capability:
        found = cls._declared.get(name.lower()) if name.isupper() else None
        if found is None:
            raise AttributeError(f"No capability {name} is declared")
        return found


class Capability(str, metaclass=_Declared):
    """A permission codename (`block_users`) with what the declarations say about it."""

    _declared: ClassVar[dict[str, Capability]] = {}
    # Every capability, declared below: the product's own, then the support actions'.
    SEARCH_USERS: ClassVar[Capability]
    RUN_EXPORTS: ClassVar[Capability]
    VIEW_ALL_EXPORTS: ClassVar[Capability]
    DOWNLOAD_EXPORTS: ClassVar[Capability]
    RUN_IMPORTS: ClassVar[Capability]
    SCHEDULE_EXPORTS: ClassVar[Capability]
    VIEW_AUDIT_LOG: ClassVar[Capability]
    REQUEST_BULK_RUNS: ClassVar[Capability]
    APPROVE_BULK_RUNS: ClassVar[Capability]
    RUN_BULK_DELETES: ClassVar[Capability]
    CREATE_USERS: ClassVar[Capability]
    SEE_PERSONAL_DATA: ClassVar[Capability]
    BUILD_DATA_PACKAGES: ClassVar[Capability]
    BLOCK_USERS: ClassVar[Capability]
    LINK_ACCOUNTS: ClassVar[Capability]
    CLEAR_BRUTE_FORCE: ClassVar[Capability]
    RESEND_VERIFICATION: ClassVar[Capability]
    SEND_PASSWORD_LINK: ClassVar[Capability]
    RESET_MFA: ClassVar[Capability]
    SIGN_OUT_EVERYWHERE: ClassVar[Capability]
    EDIT_METADATA: ClassVar[Capability]
    EDIT_PROFILES: ClassVar[Capability]
    DELETE_USERS: ClassVar[Capability]
    MANAGE_ROLES: ClassVar[Capability]
    MANAGE_ORGANIZATION_MEMBERS: ClassVar[Capability]
    REVOKE_SESSIONS: ClassVar[Capability]

    label: str  # "blocking and unblocking users": completes "Your role does not include ..."
    description: str  # the Django permission's name, shown in the admin
    roles: tuple[str, ...]  # the role groups that get it (ROLE_NAMES)
    setting: str  # a boolean setting that must be on for anyone to have it ("" = none)

    def __new__(
        cls,
        codename: str,
        *,
        label: str,
        description: str,
        roles: tuple[str, ...] = (),
        setting: str = "",
    ) -> Capability:
        if codename in cls._declared:
            raise ValueError(f"The capability {codename} is declared twice")
        unknown = set(roles) - set(ROLE_NAMES)
        if unknown:
            raise ValueError(f"{codename}: unknown roles {sorted(unknown)}")
        self = super().__new__(cls, codename)
        self.label, self.description, self.roles, self.setting = label, description, roles, setting
        cls._declared[codename] = self
        return self

    def __repr__(self) -> str:
        return f"<Capability {self!s}>"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled and copied as its codename: the declared object comes back."""
        return (declared, (str(self),))

    @property
    def value(self) -> str:
        return str(self)

    @property
    def perm(self) -> str:
        return f"staff.{self}"

    @property
    def permission(self) -> tuple[str, StrOrPromise]:
        """The (codename, name) pair of StaffCapability's Meta.permissions."""
        return (str(self), self.description)


Capability(
    "search_users",
    label="searching users",
    description="Search users, look up emails and view user details",
    roles=ROLE_NAMES,
)
Capability(
    "run_exports",
    label="building exports",
    description="Build and run bulk user exports",
    roles=(EXPORT_ADMIN_GROUP,),
)
Capability(
    "view_all_exports",
    label="seeing everyone's exports",
    description="See every staff member's exports",
    roles=(EXPORT_ADMIN_GROUP,),
)
Capability(
    "download_exports",
    label="downloading export files",
    description="Download export files",
    roles=(EXPORT_ADMIN_GROUP,),
)
Capability(
    "run_imports",
    label="importing users into Auth0",
    description="Import users into an Auth0 database connection",
    roles=(EXPORT_ADMIN_GROUP,),
)
Capability(
    "schedule_exports",
    label="scheduling exports",
    description="Schedule recurring exports, pause and delete schedules",
    roles=(EXPORT_ADMIN_GROUP,),
)
Capability(
    "view_audit_log",
    label="reading the audit log",
    description="Read the audit log",
    roles=(EXPORT_ADMIN_GROUP,),
)
# Personal data (users_admin.pii): without it, PII_MASKED_FIELDS show masked until revealed.
Capability(
    "see_personal_data",
    label="seeing personal data unmasked",
    description="See phone numbers, IP addresses, user agents and masked metadata unmasked",
    roles=(SUPPORT_LEAD_GROUP, EXPORT_ADMIN_GROUP),
)
Capability(
    "build_data_packages",
    label="building data-subject packages",
    description="Build and download a user's data-subject access package",
    roles=(SUPPORT_LEAD_GROUP, EXPORT_ADMIN_GROUP),
)
# Bulk runs (users_admin.bulk): requesting them, approving another's, and deleting in bulk.
Capability(
    "request_bulk_runs",
    label="requesting bulk runs",
    description="Request bulk runs on many users",
    roles=(SUPPORT_LEAD_GROUP,),
)
Capability(
    "approve_bulk_runs",
    label="approving bulk runs",
    description="Approve another staff member's bulk runs",
    roles=(SUPPORT_LEAD_GROUP,),
)
Capability(
    "run_bulk_deletes",
    label="deleting users in bulk",
    description="Delete users in bulk (only with USERDESK_ALLOW_USER_DELETE)",
    roles=(SUPPORT_LEAD_GROUP,),
    setting="USERDESK_ALLOW_USER_DELETE",
)
# Creating a user on a database connection (users_admin.create): not an action on a user.
Capability(
    "create_users",
    label="creating users",
    description="Create users on a database connection",
    roles=(SUPPORT_LEAD_GROUP,),
)
# The support actions' (users_admin/actions.py and users_admin/access_actions.py).
Capability(
    "block_users",
    label="blocking and unblocking users",
    description="Block and unblock users",
    roles=(SUPPORT_LEAD_GROUP,),
)
Capability(
    "link_accounts",
    label="linking and unlinking accounts",
    description=(
        "Link another account into a user (a possible duplicate, or any account by its user id) "
        "and unlink accounts"
    ),
    roles=(SUPPORT_LEAD_GROUP,),
)
Capability(
    "clear_brute_force",
    label="clearing brute-force blocks",
    description="Clear a user's brute-force blocks",
    roles=(SUPPORT_GROUP, SUPPORT_LEAD_GROUP),
)
Capability(
    "resend_verification",
    label="resending verification emails",
    description="Resend a user's verification email",
    roles=(SUPPORT_GROUP, SUPPORT_LEAD_GROUP),
)
Capability(
    "send_password_link",
    label="sending password change links",
    description="Send or show a password change link",
    roles=(SUPPORT_GROUP, SUPPORT_LEAD_GROUP),
)
Capability(
    "reset_mfa",
    label="removing MFA methods",
    description="Remove a user's MFA methods",
    roles=(SUPPORT_LEAD_GROUP,),
)
Capability(
    "sign_out_everywhere",
    label="signing users out everywhere",
    description="Sign a user out everywhere",
    roles=(SUPPORT_LEAD_GROUP,),
)
Capability(
    "edit_metadata",
    label="editing user and app metadata",
    description="Edit a user's user_metadata and app_metadata",
    roles=(SUPPORT_LEAD_GROUP,),
)
Capability(
    "edit_profiles",
    label="changing users' email, username, phone number and names",
    description="Change a user's email, username, phone number, names and picture",
    roles=(SUPPORT_LEAD_GROUP,),
)
Capability(
    "delete_users",
    label="deleting users",
    description="Delete users (only with USERDESK_ALLOW_USER_DELETE)",
    roles=(SUPPORT_LEAD_GROUP,),
    setting="USERDESK_ALLOW_USER_DELETE",
)
Capability(
    "manage_roles",
    label="assigning and removing roles",
    description="Assign and remove a user's roles",
    roles=(SUPPORT_LEAD_GROUP,),
)
Capability(
    "manage_organization_members",
    label="changing organization memberships and organization roles",
    description="Remove a user from an organization and change their organization roles",
    roles=(SUPPORT_LEAD_GROUP,),
)
Capability(
    "revoke_sessions",
    label="ending single sessions and refresh tokens",
    description="End one of a user's sessions or revoke one refresh token",
    roles=(SUPPORT_LEAD_GROUP,),
)


def declared(codename: str) -> Capability:
    """The capability declared with this codename (KeyError when there is none)."""
    return Capability._declared[codename]


class _RoleCapabilities(Mapping[str, tuple[Capability, ...]]):
    """Role name -> the capabilities declared for it, read when asked (declarations come first)."""

    def __getitem__(self, role: str) -> tuple[Capability, ...]:
        if role not in ROLE_NAMES:
            raise KeyError(role)
        return tuple(cap for cap in Capability if role in cap.roles)

    def __iter__(self) -> Iterator[str]:
        return iter(ROLE_NAMES)

    def __len__(self) -> int:
        return len(ROLE_NAMES)


ROLE_CAPABILITIES: Mapping[str, tuple[Capability, ...]] = _RoleCapabilities()


def permissions() -> list[tuple[str, StrOrPromise]]:
    """StaffCapability's Meta.permissions: every declared capability (sorted, so that only a
    new or changed declaration makes a migration)."""
    return sorted(cap.permission for cap in Capability)


def _everywhere(user: AbstractUser | AnonymousUser) -> frozenset[Capability]:
    """What the member's plain groups (roles on every tenant), own permissions and superuser
    status grant, worked out once per user object.

    The user object lives for one request (AuthenticationMiddleware loads it afresh), and Django
    already keeps its permissions for that long: this keeps the set of capabilities beside them,
    so a page asking about a dozen of them (the `can` context variable) asks the backends once.
    """
    cached: frozenset[Capability] | None = getattr(user, "_userdesk_capabilities", None)
    if cached is None:
        if user.is_active and user.is_superuser:
            cached = frozenset(Capability)  # user.has_perm() is true of every permission
        else:
            _read_grants(user)
            # What user.has_perm() asks of each backend (all ModelBackends), in one set.
            perms = user.get_all_permissions()
            cached = frozenset(cap for cap in Capability if cap.perm in perms)
        user._userdesk_capabilities = cached  # type: ignore[union-attr]
    return cached


def _tenant_roles(user: AbstractUser | AnonymousUser) -> dict[str, frozenset[Capability]]:
    """Tenant slug -> what the member's roles on that tenant (staff.models.TenantRole) grant."""
    _read_grants(user)
    return cast(dict[str, frozenset[Capability]], user._userdesk_tenant_roles)  # type: ignore[union-attr]


def _read_grants(user: AbstractUser | AnonymousUser) -> None:
    """Everything the member's roles grant, in one query once per user object: their tenant
    roles' capabilities and, for Django's ModelBackend, their own and their groups' permissions
    (which it would read in two queries of its own): they are kept where it keeps them for the
    request, so user.has_perm() asks nothing more. A superuser's are left to it (it grants them
    every permission)."""
    if hasattr(user, "_userdesk_tenant_roles"):
        return
    from django.apps import apps
    from django.contrib.auth.models import Permission
    from django.db.models import CharField, Value

    # By name: staff.models imports this module for its Meta.permissions.
    TenantRole = apps.get_model("staff", "TenantRole")
    pk = cast(int, user.pk)

    def kind(name: str) -> Value:
        return Value(name, output_field=CharField())

    own = Permission.objects.filter(user=pk).values_list(
        kind("user"), kind(""), "content_type__app_label", "codename"
    )
    grouped = Permission.objects.filter(group__user=pk).values_list(
        kind("group"), kind(""), "content_type__app_label", "codename"
    )
    # Every tenant with a role, even a role whose group grants nothing (NULL permission).
    per_tenant = TenantRole.objects.filter(user=pk).values_list(
        kind("tenant"),
        "tenant",
        "group__permissions__content_type__app_label",
        "group__permissions__codename",
    )
    rows = own.order_by().union(grouped.order_by(), per_tenant.order_by(), all=True)
    found: dict[str, set[str]] = {"user": set(), "group": set()}
    by_tenant: dict[str, set[Capability]] = {}
    for source, slug, app_label, codename in rows:
        if source == "tenant":
            caps = by_tenant.setdefault(slug, set())
            if app_label == "staff" and codename in Capability._declared:
                caps.add(declared(codename))
        else:
            found[source].add(f"{app_label}.{codename}")
    user._userdesk_tenant_roles = {  # type: ignore[union-attr]
        slug: frozenset(caps) for slug, caps in by_tenant.items()
    }
    if user.is_active and not user.is_superuser and not hasattr(user, "_perm_cache"):
        # ModelBackend's own cache names (django.contrib.auth.backends._get_permissions).
        user._user_perm_cache = found["user"]  # type: ignore[attr-defined]
        user._group_perm_cache = found["group"]  # type: ignore[attr-defined]


def granted(user: AbstractUser | AnonymousUser) -> frozenset[Capability]:
    """Every capability this user's roles grant on the current tenant: their roles on every
    tenant (plain groups) and their roles on this one (staff.models.TenantRole)."""
    if not (user.is_authenticated and user.is_active):
        return frozenset()
    everywhere = _everywhere(user)
    slug = current_tenant_slug_or_blank()
    if not slug:
        return everywhere
    return everywhere | _tenant_roles(user).get(slug, frozenset())


def tenants_for(user: AbstractUser | AnonymousUser) -> tuple[Tenant, ...]:
    """The tenants this staff member may open (the switcher lists them; another is a 403):
    every tenant for a superuser, a member with a role on every tenant, or one with no role
    anywhere (who is told so, as before tenants); else those they have a role on."""
    if not (user.is_authenticated and user.is_active):
        return ()
    per_tenant = _tenant_roles(user)
    if user.is_superuser or _everywhere(user) or not per_tenant:
        return all_tenants()
    return tuple(tenant for tenant in all_tenants() if tenant.slug in per_tenant)


def tenants_where(user: AbstractUser | AnonymousUser, capability: Capability) -> list[Tenant]:
    """The tenants this member may open and has `capability` on (the lookup across tenants)."""
    allowed = []
    for tenant in tenants_for(user):
        with tenant_scope(tenant):
            if can(user, capability):
                allowed.append(tenant)
    return allowed


def require_tenant(user: AbstractUser | AnonymousUser, tenant: Tenant) -> None:
    """A tenant's pages: 403 for a signed-in member who has nothing on it."""
    if user.is_authenticated and tenant not in tenants_for(user):
        raise PermissionDenied(f"You have no role on the tenant {tenant.name}.")


def can(user: AbstractUser | AnonymousUser, capability: Capability) -> bool:
    if capability.setting and not getattr(settings, capability.setting):
        return False
    return capability in granted(user)


def require(user: AbstractUser | AnonymousUser, capability: Capability) -> None:
    """For a view whose capability depends on its URL (the user actions): 403 without it."""
    if not can(user, capability):
        raise PermissionDenied(f"Your role does not include {capability.label}.")


def may_read_whole_audit_log(user: AbstractUser | AnonymousUser) -> bool:
    return can(user, Capability.VIEW_AUDIT_LOG)


def require_audit_about(user: AbstractUser | AnonymousUser, user_id: str) -> None:
    """The audit page: whole with VIEW_AUDIT_LOG; else only the events about one user (who
    looked at them, who acted and why), for anyone who may open that user's page."""
    if may_read_whole_audit_log(user):
        return
    if not user_id or not can(user, Capability.SEARCH_USERS):
        require(user, Capability.VIEW_AUDIT_LOG)


def sees_personal_data(user: AbstractUser | AnonymousUser, revealed: bool) -> bool:
    """Masked fields unmasked: with the capability, or for a user this member revealed (with a
    reason, for PII_REVEAL_MINUTES); revealing is open to anyone who may open user pages."""
    return can(user, Capability.SEE_PERSONAL_DATA) or (
        revealed and can(user, Capability.SEARCH_USERS)
    )


def may_export_personal_data(user: AbstractUser | AnonymousUser, masked: list[str]) -> bool:
    """An export (or its download) holding fields this member's role sees masked needs the
    capability to see them: a reveal unmasks one user, never a file of many."""
    return not masked or can(user, Capability.SEE_PERSONAL_DATA)


def may_take_data_package(user: AbstractUser | AnonymousUser, package: Any) -> bool:
    """A data-subject package is seen and downloaded by the staff member who asked for it."""
    return can(user, Capability.BUILD_DATA_PACKAGES) and package.requested_by_id == user.pk


ViewFunc = TypeVar("ViewFunc", bound=Callable[..., HttpResponse])


def requires(capability: Capability) -> Callable[[ViewFunc], ViewFunc]:
    """Sign-in is enforced by LoginRequiredMiddleware; this adds the capability check (403)."""

    def decorator(view: ViewFunc) -> ViewFunc:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            require(request.user, capability)
            return view(request, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorator


def may_delete_saved_search(user: AbstractUser | AnonymousUser, saved: Any) -> bool:
    """Anyone who searches sees their own and shared saved searches; only the owner deletes."""
    return can(user, Capability.SEARCH_USERS) and saved.owner_id == user.pk


def may_approve_bulk_run(user: AbstractUser | AnonymousUser, run: Any) -> bool:
    """Four eyes: a staff member allowed to approve, never the one who asked; a delete also
    needs the right to delete in bulk (so only while USERDESK_ALLOW_USER_DELETE is on)."""
    if not can(user, Capability.APPROVE_BULK_RUNS) or run.requested_by_id == user.pk:
        return False
    return run.action != "delete" or can(user, Capability.RUN_BULK_DELETES)
