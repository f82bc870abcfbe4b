"""The sandbox tenant's URLs, served alone by `manage.py runsandbox`."""

from __future__ import annotations

from django.urls import path, re_path

from sandbox import (
    access_api,
    connection_writes,
    faults_api,
    jobs_api,
    oidc,
    resource_servers_api,
    support_api,
    users_api,
)

urlpatterns = [
    # Authorization codes are answered by sandbox.oidc, every other grant by sandbox.tokens.
    path("oauth/token", oidc.token, name="sandbox-token"),
    path(".well-known/openid-configuration", oidc.configuration, name="sandbox-oidc-config"),
    path(".well-known/jwks.json", oidc.jwks, name="sandbox-oidc-jwks"),
    path("authorize", oidc.authorize, name="sandbox-oidc-authorize"),
    path("userinfo", oidc.userinfo, name="sandbox-oidc-userinfo"),
    path("api/v2/users", users_api.users_collection, name="sandbox-users"),
    # One user and its sub-resources (`/logs`, `/authentication-methods/{id}`, ...): the id may
    # hold an encoded slash, so `users_api.user_subtree` splits the raw path itself.
    # `(?s)`: `<path:>` stops at a line break, and a fuzzed id (`a%0Ab`) must still be a user id.
    re_path(r"^api/v2/users/(?P<rest>(?s:.+))$", users_api.user_subtree, name="sandbox-user"),
    path("api/v2/users-by-email", users_api.users_by_email, name="sandbox-users-by-email"),
    path("api/v2/user-blocks", support_api.user_blocks_by_identifier, name="sandbox-user-blocks"),
    path("api/v2/user-blocks/<path:user_id>", support_api.user_blocks, name="sandbox-user-block"),
    path(
        "api/v2/connections", connection_writes.connections_collection, name="sandbox-connections"
    ),
    path(
        "api/v2/connections/<str:connection_id>",
        connection_writes.one_connection,
        name="sandbox-connection",
    ),
    path("api/v2/jobs/users-exports", jobs_api.create_export, name="sandbox-export-create"),
    path(
        "api/v2/jobs/verification-email",
        support_api.verification_email,
        name="sandbox-verification-email",
    ),
    path("api/v2/jobs/users-imports", jobs_api.create_import, name="sandbox-users-imports"),
    path("api/v2/jobs/<str:job_id>", jobs_api.get_job, name="sandbox-job"),
    path("api/v2/jobs/<str:job_id>/errors", jobs_api.get_job_errors, name="sandbox-job-errors"),
    path(
        "api/v2/tickets/password-change",
        support_api.password_change_ticket,
        name="sandbox-password-change-ticket",
    ),
    path("api/v2/logs", support_api.search_logs, name="sandbox-logs"),
    path("api/v2/sessions/<str:session_id>", support_api.one_session, name="sandbox-session"),
    path(
        "api/v2/sessions/<str:session_id>/revoke",
        support_api.revoke_session,
        name="sandbox-session-revoke",
    ),
    path(
        "dbconnections/change_password",
        support_api.change_password_email,
        name="sandbox-change-password-email",
    ),
    path("u/reset-password", support_api.reset_password_page, name="sandbox-reset-password"),
    path("exports/<str:job_id>/<str:filename>", jobs_api.download, name="sandbox-download"),
    # Roles, organizations, one refresh token (sandbox.access_api).
    path("api/v2/roles", access_api.list_roles, name="sandbox-roles"),
    path("api/v2/roles/<str:role_id>", access_api.one_role, name="sandbox-role"),
    path(
        "api/v2/resource-servers",
        resource_servers_api.resource_servers,
        name="sandbox-resource-servers",
    ),
    # Any id, line breaks too (`path:` stops at one): an identifier is often a URL, and an id
    # no server has is answered by the view, not by an unrouted 404.
    re_path(
        r"^api/v2/resource-servers/(?P<server_id>(?s:.+))$",
        resource_servers_api.one_resource_server,
        name="sandbox-resource-server",
    ),
    path(
        "api/v2/organizations/<str:org_id>/members",
        access_api.organization_members,
        name="sandbox-organization-members",
    ),
    re_path(
        r"^api/v2/organizations/(?P<org_id>[^/]+)/members/(?P<rest>(?s:.+))/roles$",
        access_api.member_roles,
        name="sandbox-organization-member-roles",
    ),
    path(
        "api/v2/refresh-tokens/<str:token_id>",
        access_api.one_refresh_token,
        name="sandbox-refresh-token",
    ),
    path("sandbox/faults", faults_api.faults_view, name="sandbox-faults"),
    path("sandbox/stats", faults_api.stats_view, name="sandbox-stats"),
]

handler404 = "sandbox.http.not_found"
handler500 = "sandbox.http.server_error"
