"""Userdesk's client for the Auth0 Management API (used by users_admin and exports).

Callers get dicts, a SearchPage dataclass, None for "not found", or one of the typed
errors below; never httpx types (except the stream `download` yields). Every call runs for
the current tenant: the one of the innermost `tenant_scope()`, else the only configured one
(see tenants.py).
"""

from __future__ import annotations

from .cached import cache_key, connections
from .endpoints import (
    SEARCH_WINDOW,
    SearchPage,
    create_users_export,
    create_users_import,
    download,
    get_job,
    get_job_errors,
    get_user,
    list_connections,
    search_users,
    users_by_email,
)
from .errors import ManagementApiError, PermanentError, TransientError
from .http import budget, stats, use_transport
from .identities import create_user, link_identity, unlink_identity
from .support import (
    LOGS_WINDOW,
    LogPage,
    Outcome,
    authentication_methods,
    clear_user_blocks,
    clear_user_blocks_by_identifier,
    concurrently,
    create_password_change_ticket,
    delete_authentication_method,
    delete_authentication_methods,
    delete_user,
    delete_user_refresh_tokens,
    delete_user_sessions,
    invalidate_remember_browser,
    send_password_reset_email,
    send_verification_email,
    update_user,
    user_blocks,
    user_blocks_by_identifier,
    user_logs,
    user_refresh_tokens,
    user_sessions,
)
from .tenants import (
    NoTenantChosen,
    Tenant,
    TenantError,
    UnknownTenant,
    all_tenants,
    current_tenant,
    default_tenant,
    get_tenant,
    tenant_scope,
)

__all__ = [
    "LOGS_WINDOW",
    "SEARCH_WINDOW",
    "LogPage",
    "ManagementApiError",
    "NoTenantChosen",
    "Outcome",
    "PermanentError",
    "SearchPage",
    "Tenant",
    "TenantError",
    "TransientError",
    "UnknownTenant",
    "all_tenants",
    "authentication_methods",
    "budget",
    "cache_key",
    "clear_user_blocks",
    "clear_user_blocks_by_identifier",
    "concurrently",
    "connections",
    "create_password_change_ticket",
    "create_user",
    "create_users_export",
    "create_users_import",
    "current_tenant",
    "default_tenant",
    "delete_authentication_method",
    "delete_authentication_methods",
    "delete_user",
    "delete_user_refresh_tokens",
    "delete_user_sessions",
    "download",
    "get_job",
    "get_job_errors",
    "get_tenant",
    "get_user",
    "invalidate_remember_browser",
    "link_identity",
    "list_connections",
    "search_users",
    "send_password_reset_email",
    "send_verification_email",
    "stats",
    "tenant_scope",
    "unlink_identity",
    "update_user",
    "use_transport",
    "user_blocks",
    "user_blocks_by_identifier",
    "user_logs",
    "user_refresh_tokens",
    "user_sessions",
    "users_by_email",
]
