"""Where real Auth0 answers unlike its own Management API definition: the one list.

The fuzz test (`tests/sandbox/test_oas.py`) loads `sandbox/oas/emulated.yml` and applies every
deviation below before generating requests, so the sandbox is held to what Auth0 really does and
to the definition everywhere else. Each deviation changes the one schema or operation it is about,
says what real Auth0 does and names the evidence. The docs' "Where the sandbox knowingly
differs from Auth0" (docs/sandbox/differences.md) points here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Definition = dict[str, Any]


@dataclass(frozen=True)
class Deviation:
    where: str  # the schema or operation of the definition it changes
    what: str  # what real Auth0 does instead
    evidence: str
    apply: Callable[[Definition], None]
    # False: no source shows what Auth0 does; the sandbox's documented choice departs from the
    # definition (docs/sandbox/differences.md).
    confirmed: bool = True


def _schema(definition: Definition, name: str) -> dict[str, Any]:
    return dict.__getitem__(definition["components"]["schemas"], name)


def _identity_user_id_may_be_a_number(definition: Definition) -> None:
    user_id = _schema(definition, "UserIdentitySchema")["properties"]["user_id"]
    user_id["type"] = ["string", "integer"]


def _connections_list_is_any_of(definition: Definition) -> None:
    listing = _schema(definition, "ListConnectionsResponseContent")
    listing["anyOf"] = listing.pop("oneOf")


def _members_list_is_any_of(definition: Definition) -> None:
    listing = _schema(definition, "ListOrganizationMembersResponseContent")
    listing["anyOf"] = listing.pop("oneOf")


def _connections_carry_enabled_clients(definition: Definition) -> None:
    properties = _schema(definition, "ConnectionForList")["properties"]
    properties["enabled_clients"] = {"type": "array", "items": {"type": "string"}}


CONNECTION_ANSWERS = (
    "ConnectionForList",
    "GetConnectionResponseContent",
    "CreateConnectionResponseContent",
    "UpdateConnectionResponseContent",
)


def _enterprise_connections_carry_a_ticket(definition: Definition) -> None:
    for name in CONNECTION_ANSWERS:
        properties = _schema(definition, name)["properties"]
        properties["provisioning_ticket_url"] = {"type": "string", "format": "uri"}


def _encryption_key_answered_without_pem(definition: Definition) -> None:
    key = _schema(definition, "ResourceServerTokenEncryptionKey")
    key["required"] = [name for name in key["required"] if name != "pem"]


def _no_content_is_empty(definition: Definition) -> None:
    definition["paths"]["/jobs/{id}/errors"]["get"]["responses"]["204"].pop("content")


def _export_of_every_connection_names_none(definition: Definition) -> None:
    _schema(definition, "CreateExportUsersResponseContent")["required"].remove("connection")


def _log_fields_may_be_null(definition: Definition) -> None:
    properties = _schema(definition, "Log")["properties"]
    for name in NULLABLE_LOG_FIELDS:
        properties[name] = {"anyOf": [properties[name], {"type": "null"}]}


NULLABLE_LOG_FIELDS = ("user_id", "connection", "details", "location_info")


def _allow_status(path: str, method: str, status: str, why: str) -> Callable[[Definition], None]:
    def apply(definition: Definition) -> None:
        definition["paths"][path][method]["responses"].setdefault(status, {"description": why})

    return apply


def _unknown_user_is_404(path: str, method: str) -> Deviation:
    return Deviation(
        where=f"paths.{path}.{method}.responses.404",
        what="a user id no user has is a 404 `The user does not exist.`; the definition lists none",
        evidence=(
            "nothing recorded; the sandbox answers as GET /users/{id} does (docs/sandbox/"
            "support-actions.md)"
        ),
        apply=_allow_status(path, method, "404", "The user does not exist."),
        confirmed=False,
    )


def _bad_paging_is_400(path: str) -> Deviation:
    return Deviation(
        where=f"paths.{path}.get.responses.400",
        what=(
            "`take` outside the definition's 1..100 is a 400 `invalid_query_string`, as on every "
            "other list; the definition bounds `take` but lists no 400"
        ),
        evidence="the definition's own parameter bounds; nothing recorded",
        apply=_allow_status(path, "get", "400", "Invalid request query string."),
        confirmed=False,
    )


def _unknown_organization_is_404(path: str, method: str) -> Deviation:
    return Deviation(
        where=f"paths.{path}.{method}.responses.404",
        what=(
            "an organization id no organization has is a 404 `inexistent_organization`; the "
            "definition lists none"
        ),
        evidence="nothing recorded; the sandbox's choice (docs/sandbox/support-actions.md)",
        apply=_allow_status(path, method, "404", "No organization found by that id."),
        confirmed=False,
    )


DEVIATIONS: tuple[Deviation, ...] = (
    Deviation(
        where="components.schemas.UserIdentitySchema.properties.user_id",
        what="a social identity's user_id is a JSON number (GitHub, for one), not a string",
        evidence=(
            "node-auth0's type `UserIdentity.user_id: string | number`; "
            "the sandbox seeds numeric GitHub identity ids for that reason"
        ),
        apply=_identity_user_id_may_be_a_number,
    ),
    Deviation(
        where="components.schemas.ListConnectionsResponseContent",
        what=(
            "the offset-paged answer {total,start,limit,connections} also satisfies the "
            "checkpoint-paged schema (no required keys, additional properties allowed), so "
            "`oneOf` fails on every real answer: it is `anyOf`"
        ),
        evidence=(
            "go-auth0 TestConnectionManager_List.yaml (GET /connections?...include_totals=true "
            "-> 200 {total,start,limit,connections})"
        ),
        apply=_connections_list_is_any_of,
    ),
    Deviation(
        where="components.schemas.ListOrganizationMembersResponseContent",
        what=(
            "a checkpoint page with no `next` (the last one: `{members}`) also satisfies the "
            "offset-paged schema (no required keys), so `oneOf` fails on it: it is `anyOf`"
        ),
        evidence=(
            'the definition\'s own two object schemas, both satisfied by `{"members": []}`; '
            "Auth0's docs: the last checkpoint page carries no `next` "
            "(https://auth0.com/docs/api/management/v2/organizations/get-members)"
        ),
        apply=_members_list_is_any_of,
    ),
    Deviation(
        where="components.schemas.ConnectionForList.properties",
        what=(
            "every listed connection carries `enabled_clients` (a list of client ids), which "
            "the schema does not name while forbidding additional properties"
        ),
        evidence=(
            "go-auth0 recordings: 70 of the 93 connection objects GET /connections returned "
            "(all but those cut by `fields`), e.g. TestConnectionManager_List.yaml"
        ),
        apply=_connections_carry_enabled_clients,
    ),
    Deviation(
        where=(
            "components.schemas.ConnectionForList.properties, "
            "components.schemas.GetConnectionResponseContent.properties, "
            "components.schemas.CreateConnectionResponseContent.properties, "
            "components.schemas.UpdateConnectionResponseContent.properties"
        ),
        what=(
            "an enterprise connection (samlp, ad, adfs, google-apps, pingfederate, waad) carries "
            "`provisioning_ticket_url`, which none of the schemas names while forbidding "
            "additional properties"
        ),
        evidence=(
            "go-auth0 TestConnectionManager_Read/It_can_successfully_read_a_SAML_Connection.yaml "
            "(GET /connections/{id}), TestConnectionManager_ReadByName/"
            "It_can_successfully_find_a_SAML_Connection_by_its_name.yaml (GET /connections), "
            "TestConnectionManager_Create/It_can_successfully_create_a_SAML_Connection.yaml "
            "(POST) and TestConnectionManager_Update/"
            "It_can_successfully_update_a_AD_Connection.yaml (PATCH)"
        ),
        apply=_enterprise_connections_carry_a_ticket,
    ),
    Deviation(
        where="components.schemas.ResourceServerTokenEncryptionKey.required",
        what=(
            "a resource server's token encryption key is answered without its `pem`, which the "
            "schema (shared by request and answer) requires"
        ),
        evidence=(
            "go-auth0 TestResourceServer_Create.yaml: POST /resource-servers sent the key's pem, "
            "the 201 answer carries name, alg and kid only"
        ),
        apply=_encryption_key_answered_without_pem,
    ),
    Deviation(
        where="paths./roles/{id}.patch.responses.404",
        what=(
            "a role id no role has is a 404 `The role does not exist.`; the definition lists "
            "none for PATCH"
        ),
        evidence=(
            "go-auth0 TestRoleManager_Delete.yaml: GET and DELETE of a deleted role answered "
            "404 `The role does not exist.`; PATCH itself is not recorded on one"
        ),
        apply=_allow_status("/roles/{id}", "patch", "404", "The role does not exist."),
        confirmed=False,
    ),
    Deviation(
        where="paths./jobs/{id}/errors.get.responses.204",
        what="the 204 (no errors) has no body, though the definition gives it a JSON schema",
        evidence=(
            "RFC 9110 §15.3.5 (a 204 has no content); go-auth0 recordings of 204s "
            "(TestUserManager_Delete.yaml) have an empty body labelled application/json"
        ),
        apply=_no_content_is_empty,
    ),
    Deviation(
        where="components.schemas.CreateExportUsersResponseContent.required",
        what=(
            "an export without `connection_id` (every connection) names no `connection`; the "
            "definition requires one. Only an export of one connection was recorded."
        ),
        evidence=(
            "go-auth0 TestJobManager_ExportUsers.yaml (with connection_id: `connection` sent); "
            "nothing recorded without: the sandbox's choice (docs/sandbox/jobs.md)"
        ),
        apply=_export_of_every_connection_names_none,
        confirmed=False,
    ),
    Deviation(
        where="components.schemas.Log.properties (" + ", ".join(NULLABLE_LOG_FIELDS) + ")",
        what="log events carry null freely: `user_id: null` on `sapi`, `connection: null`, ...",
        evidence=(
            'go-auth0 TestLogManager_Search.yaml (`"user_id":null`; recorded events use null or '
            "empty strings freely)"
        ),
        apply=_log_fields_may_be_null,
    ),
    _unknown_user_is_404("/users/{id}/logs", "get"),
    _unknown_user_is_404("/users/{id}/multifactor/actions/invalidate-remember-browser", "post"),
    _unknown_user_is_404("/users/{id}/revoke-access", "post"),
    _unknown_user_is_404("/jobs/verification-email", "post"),
    _unknown_user_is_404("/users/{id}/identities/{provider}/{user_id}", "delete"),
    _bad_paging_is_400("/users/{user_id}/sessions"),
    _bad_paging_is_400("/users/{user_id}/refresh-tokens"),
    # Roles, permissions and organizations.
    *(
        _unknown_user_is_404(path, method)
        for path, methods in (
            ("/users/{id}/roles", ("get", "post", "delete")),
            ("/users/{id}/permissions", ("post", "delete")),
            ("/users/{id}/organizations", ("get",)),
        )
        for method in methods
    ),
    *(
        _unknown_organization_is_404(path, method)
        for path in ("/organizations/{id}/members", "/organizations/{id}/members/{user_id}/roles")
        for method in ("get", "post", "delete")
    ),
    _bad_paging_is_400("/users/{id}/roles"),
    _bad_paging_is_400("/users/{id}/organizations"),
    Deviation(
        where="paths./refresh-tokens/{id}.delete.responses.204",
        what="a deleted refresh token is a 204 with no body; the definition says 202",
        evidence=(
            "go-auth0 TestRefreshTokenManager_Delete.yaml (recorded 2024: 204, empty body); "
            "shared/auth0-api-identities.md section 5"
        ),
        apply=_allow_status("/refresh-tokens/{id}", "delete", "204", "Refresh token deleted."),
    ),
    Deviation(
        where="paths./users/{id}/roles.delete.responses.400",
        what=(
            "a body the definition refuses (other keys, no or an empty `roles`, a role id no "
            "role has) is a 400, as on POST; the definition lists no 400 for DELETE"
        ),
        evidence="the definition's own request schema; nothing recorded",
        apply=_allow_status("/users/{id}/roles", "delete", "400", "Invalid request body."),
        confirmed=False,
    ),
)


def apply_all(definition: Definition) -> Definition:
    for deviation in DEVIATIONS:
        deviation.apply(definition)
    return definition
