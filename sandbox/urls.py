"""The sandbox tenant's URLs, served alone by `manage.py runsandbox`."""

from __future__ import annotations

from django.urls import path

from sandbox import connections_api, faults_api, jobs_api, oidc, users_api

urlpatterns = [
    # Authorization codes are answered by sandbox.oidc, every other grant by sandbox.tokens.
    path("oauth/token", oidc.token, name="sandbox-token"),
    path(".well-known/openid-configuration", oidc.configuration, name="sandbox-oidc-config"),
    path(".well-known/jwks.json", oidc.jwks, name="sandbox-oidc-jwks"),
    path("authorize", oidc.authorize, name="sandbox-oidc-authorize"),
    path("userinfo", oidc.userinfo, name="sandbox-oidc-userinfo"),
    path("api/v2/users", users_api.users_collection, name="sandbox-users"),
    # `path`, not `str`: an id may hold an encoded slash (%2F arrives decoded).
    path("api/v2/users/<path:user_id>", users_api.user_detail, name="sandbox-user"),
    path("api/v2/users-by-email", users_api.users_by_email, name="sandbox-users-by-email"),
    path("api/v2/connections", connections_api.list_connections, name="sandbox-connections"),
    path("api/v2/jobs/users-exports", jobs_api.create_export, name="sandbox-export-create"),
    path("api/v2/jobs/<str:job_id>", jobs_api.get_job, name="sandbox-job"),
    path("api/v2/jobs/<str:job_id>/errors", jobs_api.get_job_errors, name="sandbox-job-errors"),
    path("exports/<str:job_id>/<str:filename>", jobs_api.download, name="sandbox-download"),
    path("sandbox/faults", faults_api.faults_view, name="sandbox-faults"),
    path("sandbox/stats", faults_api.stats_view, name="sandbox-stats"),
]

handler404 = "sandbox.http.not_found"
handler500 = "sandbox.http.server_error"
