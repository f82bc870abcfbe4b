"""`POST /api/v2/users/{id}/identities` (link) and
`DELETE /api/v2/users/{id}/identities/{provider}/{user_id}` (unlink), routed by
`sandbox.users_api.user_subtree`; the effects are `sandbox.identities`'."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from sandbox import identities, support_api
from sandbox.http import api_error, json_response, management_api

# Auth0 also takes a user's own token with update:current_user_identities; the sandbox issues
# application tokens only (client credentials), which never carry it.
SCOPES = ("update:users",)
FORBIDDEN = "Insufficient scope; expected: update:users, update:current_user_identities."


@management_api(scopes=SCOPES, group="users_write", forbidden=FORBIDDEN)
def link(request: HttpRequest, user_id: str) -> HttpResponse:
    body = support_api._body(request)
    if body is None:
        return support_api._invalid_json()
    try:
        answer = identities.link(user_id, body)
    except identities.LinkError as error:
        return api_error(error.status, error.message, error.error_code)
    if answer is None:
        return support_api.user_not_found()
    support_api._sapi(request, "Link a User Account", 201, body, answer)
    return json_response(answer, status=201)


@management_api(scopes=SCOPES, group="users_write", forbidden=FORBIDDEN)
def unlink(request: HttpRequest, user_id: str, provider: str, identity_id: str) -> HttpResponse:
    try:
        answer = identities.unlink(user_id, provider, identity_id)
    except identities.LinkError as error:
        return api_error(error.status, error.message, error.error_code)
    if answer is None:
        return support_api.user_not_found()
    support_api._sapi(request, "Unlink a User Identity", 200, None, answer)
    return json_response(answer)
