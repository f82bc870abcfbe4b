"""The export builder at /exports/new/: validation, prefill, templates, permissions."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from exports import formats
from exports.models import Export, ExportTemplate, Status
from staff.models import AuditEvent
from tests.fixtures.exports import builder_post

pytestmark = pytest.mark.usefixtures("use_sandbox")


def test_builder_lists_connections_and_metadata_paths(admin_client_: Client) -> None:
    response = admin_client_.get("/t/userdesk-sandbox/exports/new/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "All connections" in body
    assert "Username-Password-Authentication" in body
    # Metadata leaf paths come from sampling real users of the tenant.
    assert "user_metadata." in body or "app_metadata." in body
    assert 'name="r-0-on"' in body


def test_the_builder_page_carries_each_formats_rules_for_its_script(
    admin_client_: Client,
) -> None:
    """The script checks the rules the server declares (exports.formats), read from the page."""
    body = admin_client_.get("/t/userdesk-sandbox/exports/new/").content.decode()
    found = re.search(r'<script id="format-rules" type="application/json">(.*?)</script>', body)
    assert found
    rules = json.loads(found[1])
    assert rules == formats.page_rules()
    assert rules["formats"]["csv"] == {"label": "CSV", "maxFields": 30, "holdsObjects": False}
    assert rules["formats"]["ndjson"]["maxFields"] is None
    assert re.fullmatch(rules["objectPath"], "identities[0].profileData")
    assert "CSV takes at most 30 fields and no whole object" in body
    assert "NDJSON takes whole objects." in body
    assert "data-csv-max" not in body


def test_csv_takes_at_most_30_fields(admin_client_: Client) -> None:
    fields = [(f"user_metadata.f{i}", "") for i in range(31)]
    response = admin_client_.post("/t/userdesk-sandbox/exports/new/", builder_post(fields))
    assert response.status_code == 200
    assert "CSV exports take at most 30 fields; you picked 31" in response.content.decode()
    assert not Export.objects.exists()

    response = admin_client_.post("/t/userdesk-sandbox/exports/new/", builder_post(fields[:30]))
    assert response.status_code == 302
    export = Export.objects.get()
    assert len(export.fields) == 30


def test_csv_refuses_a_whole_metadata_object_ndjson_takes_it(admin_client_: Client) -> None:
    data = builder_post([("email", "")], ticked=("user_metadata",))
    response = admin_client_.post("/t/userdesk-sandbox/exports/new/", data)
    assert response.status_code == 200
    assert "CSV cannot hold the whole object “user_metadata”" in response.content.decode()
    assert not Export.objects.exists()

    response = admin_client_.post("/t/userdesk-sandbox/exports/new/", {**data, "format": "ndjson"})
    assert response.status_code == 302
    export = Export.objects.get()
    assert export.format == "ndjson"
    assert export.fields == [{"name": "user_metadata"}, {"name": "email"}]
    assert export.spec.auth0_body()["format"] == "json"


def test_csv_refuses_a_metadata_sub_object_and_whole_identities(admin_client_: Client) -> None:
    from exports.fields import discovered_metadata

    _, objects = discovered_metadata()
    sub_object = next(path for path in objects if path.startswith("user_metadata."))
    body = admin_client_.get("/t/userdesk-sandbox/exports/new/").content.decode()
    # The picker marks it as an object, so the page can warn while picking.
    assert f'value="{sub_object}"' in body
    response = admin_client_.post(
        "/t/userdesk-sandbox/exports/new/", builder_post([(sub_object, ""), ("identities", "")])
    )
    text = response.content.decode()
    assert response.status_code == 200
    assert f"CSV cannot hold the whole object “{sub_object}”" in text
    assert "CSV cannot hold the whole object “identities”" in text
    assert "identities[0].connection" in text
    assert not Export.objects.exists()


@pytest.mark.parametrize("limit", ["0", "-5", "ten", "1.5"])
def test_bad_limit(admin_client_: Client, limit: str) -> None:
    response = admin_client_.post(
        "/t/userdesk-sandbox/exports/new/", builder_post([("email", "")], limit=limit)
    )
    assert response.status_code == 200
    assert 'id="id_limit"' in response.content.decode()
    assert "errorlist" in response.content.decode()
    assert not Export.objects.exists()


def test_unknown_field(admin_client_: Client) -> None:
    response = admin_client_.post(
        "/t/userdesk-sandbox/exports/new/", builder_post([("favourite_colour", "")])
    )
    assert response.status_code == 200
    assert "“favourite_colour” is not an exportable field" in response.content.decode()
    assert not Export.objects.exists()


def test_spec_keeps_order_renames_limit_and_connection(admin_client_: Client) -> None:
    from management_api import connections

    connection = next(c for c in connections() if c["name"] == "Username-Password-Authentication")
    data = builder_post(
        [("identities[0].connection", "Provider"), ("email", "Email")],
        ticked=("user_id",),
        connection=connection["id"],
        limit="25",
    )
    # Reorder without JavaScript: number the rows.
    data["r-0-order"], data["r-1-order"], data["r-2-order"] = "3", "1", "2"
    response = admin_client_.post("/t/userdesk-sandbox/exports/new/", data)
    assert response.status_code == 302
    export = Export.objects.get()
    assert response["Location"] == f"/t/userdesk-sandbox/exports/{export.pk}/"
    assert export.status == Status.QUEUED
    assert export.fields == [
        {"name": "identities[0].connection", "export_as": "Provider"},
        {"name": "email", "export_as": "Email"},
        {"name": "user_id"},
    ]
    assert export.limit == 25
    assert export.connection_id == connection["id"]
    assert export.connection_name == "Username-Password-Authentication"
    assert export.spec.auth0_body() == {
        "format": "csv",
        "connection_id": connection["id"],
        "limit": 25,
        "fields": export.fields,
    }
    event = AuditEvent.objects.get(action="exports.create")
    assert event.target == f"export #{export.pk}"
    assert event.details["fields"] == 3


def test_sample_of_ten(admin_client_: Client) -> None:
    response = admin_client_.post(
        "/t/userdesk-sandbox/exports/new/", builder_post([("email", "")], limit="", sample="on")
    )
    assert response.status_code == 302
    assert Export.objects.get().limit == 10


def test_duplicate_column_titles_are_refused(admin_client_: Client) -> None:
    response = admin_client_.post(
        "/t/userdesk-sandbox/exports/new/", builder_post([("email", "Mail"), ("name", "Mail")])
    )
    assert response.status_code == 200
    assert "both be titled “Mail”" in response.content.decode()


def test_search_hand_off_prefills(admin_client_: Client) -> None:
    response = admin_client_.get(
        "/t/userdesk-sandbox/exports/new/",
        {
            "connection": "Username-Password-Authentication",
            "fields": "email,user_metadata.plan,user_id",
            "q": 'email:"*@example.com"',
        },
    )
    body = response.content.decode()
    assert response.status_code == 200
    # An exact export of that search, not the whole connection under the search's label.
    assert "Only the users matching" in body
    assert "email:&quot;*@example.com&quot;" in body
    form = response.context["form"]
    assert form.initial["match_query"] == 'email:"*@example.com"'
    assert "source_query" not in form.initial
    picked = [(r.row.name, r.row.order) for r in form.field_rows if r.row.on]
    assert sorted(picked, key=lambda item: item[1]) == [
        ("email", 1),
        ("user_metadata.plan", 2),
        ("user_id", 3),
    ]
    assert form.initial["connection"].startswith("con_")


def test_templates_save_and_prefill(admin_client_: Client, export_admin: Any) -> None:
    data = builder_post([("email", "Mail")], fmt="ndjson", template_title="Weekly mails")
    data["save_template"] = "1"
    response = admin_client_.post("/t/userdesk-sandbox/exports/new/", data)
    template = ExportTemplate.objects.get(owner=export_admin)
    assert response.status_code == 302
    assert response["Location"] == f"/t/userdesk-sandbox/exports/new/?template={template.pk}"
    assert template.spec["fields"] == [{"name": "email", "export_as": "Mail"}]
    assert not Export.objects.exists()

    response = admin_client_.get(response["Location"])
    form = response.context["form"]
    assert form.initial["format"] == "ndjson"
    assert [(r.row.name, r.row.export_as) for r in form.field_rows if r.row.on] == [
        ("email", "Mail")
    ]


def test_rerun_copies_the_spec(admin_client_: Client) -> None:
    admin_client_.post(
        "/t/userdesk-sandbox/exports/new/", builder_post([("email", "E"), ("name", "")], limit="5")
    )
    first = Export.objects.get()
    response = admin_client_.get(f"/t/userdesk-sandbox/exports/new/?rerun={first.pk}")
    form = response.context["form"]
    assert form.initial["limit"] == 5
    picked = [(r.row.name, r.row.export_as) for r in form.field_rows if r.row.on]
    assert picked == [("email", "E"), ("name", "")]


def test_builder_needs_the_run_exports_capability(
    agent_client: Client, outsider_client: Client
) -> None:
    assert agent_client.get("/t/userdesk-sandbox/exports/new/").status_code == 403
    assert outsider_client.get("/t/userdesk-sandbox/exports/new/").status_code == 403
    assert (
        agent_client.post(
            "/t/userdesk-sandbox/exports/new/", builder_post([("email", "")])
        ).status_code
        == 403
    )
    assert not Export.objects.exists()


def test_a_template_needs_a_name(admin_client_: Client) -> None:
    data = builder_post([("email", "")], template_title="")
    data["save_template"] = "1"
    response = admin_client_.post("/t/userdesk-sandbox/exports/new/", data)
    assert response.status_code == 200
    assert "Name the template to save it." in response.content.decode()
    assert not ExportTemplate.objects.exists()
    assert not Export.objects.exists()


def test_the_include_box_decides_on_typed_in_rows_too(admin_client_: Client) -> None:
    # Typed in, then unticked: the row stays out (it used to be exported all the same).
    data = builder_post([("email", ""), ("nickname", ""), ("name", "")], unticked=("nickname",))
    response = admin_client_.post("/t/userdesk-sandbox/exports/new/", data)
    assert response.status_code == 302
    assert Export.objects.get().fields == [{"name": "email"}, {"name": "name"}]


@pytest.mark.parametrize("path", ["identities[0]", "identities[1]", "identities[0].profileData"])
def test_csv_refuses_object_valued_paths_like_whole_metadata(
    admin_client_: Client, path: str
) -> None:
    response = admin_client_.post(
        "/t/userdesk-sandbox/exports/new/", builder_post([("email", ""), (path, "")])
    )
    text = response.content.decode()
    assert response.status_code == 200
    assert f"CSV cannot hold the whole object “{path}”" in text
    assert not Export.objects.exists()
    # A leaf inside it is fine for CSV, and NDJSON takes the object.
    leaf = f"{path}.email" if path.endswith("profileData") else f"{path}.connection"
    assert (
        admin_client_.post(
            "/t/userdesk-sandbox/exports/new/", builder_post([(leaf, "")])
        ).status_code
        == 302
    )
    ndjson = admin_client_.post(
        "/t/userdesk-sandbox/exports/new/", builder_post([(path, "")], fmt="ndjson")
    )
    assert ndjson.status_code == 302


def test_the_csv_rule_message_has_a_place_beside_the_start_button(admin_client_: Client) -> None:
    body = admin_client_.get("/t/userdesk-sandbox/exports/new/").content.decode()
    button = body.index('id="submit-export"')
    assert 'aria-describedby="submit-blocked"' in body[button - 200 : button + 200]
    assert body.index('id="submit-blocked"') > button


def _connection(strategy: str) -> dict[str, str]:
    from management_api import connections

    return next(c for c in connections() if c["strategy"] == strategy)


def test_the_builder_says_before_starting_whether_the_file_will_be_importable(
    admin_client_: Client,
) -> None:
    database = _connection("auth0")
    # A new form: all connections, so no import file, and why.
    body = admin_client_.get("/t/userdesk-sandbox/exports/new/").content.decode()
    assert "Importing into Auth0" in body
    assert "will <strong>not</strong> offer Import-ready JSON for Auth0" in body
    assert "It holds all connections" in body
    # Prefilled for a database connection with an email column: it will.
    body = admin_client_.get(
        f"/t/userdesk-sandbox/exports/new/?connection={database['id']}&fields=email,user_metadata.plan,last_ip"
    ).content.decode()
    assert "The file will offer <strong>Import-ready JSON for Auth0</strong>" in body
    assert "2 of its 3 columns" in body
    assert "<code>last_ip</code> (not an attribute of Auth0&#x27;s import schema)" in body


def test_the_form_refresh_names_each_reason_the_file_will_not_be_importable(
    admin_client_: Client,
) -> None:
    database, social = _connection("auth0"), _connection("google-oauth2")
    refresh = {"HX-Request": "true"}

    def outlook(**data: Any) -> str:
        response = admin_client_.post(
            "/t/userdesk-sandbox/exports/new/", {**data, "outlook": "1"}, headers=refresh
        )
        assert response.status_code == 200
        body = response.content.decode()
        assert body.lstrip().startswith('<section class="card stack import-outlook"')
        return body

    ready = outlook(**builder_post([("email", "")], connection=database["id"]))
    assert "will offer <strong>Import-ready JSON for Auth0</strong>" in ready
    no_email = outlook(**builder_post([("user_id", "Id")], connection=database["id"]))
    assert "no email column" in no_email
    social_one = outlook(**builder_post([("email", "")], connection=social["id"]))
    assert f"{social['name']} is a google-oauth2 connection" in social_one
    # A CSV metadata column may hold an array, as text; warned before the download.
    roles = [("email", ""), ("app_metadata.roles", "")]
    csv_roles = outlook(**builder_post(roles, connection=database["id"]))
    assert "CSV holds an array or object in a metadata column (app_metadata.roles)" in csv_roles
    assert "export NDJSON with the metadata whole" in csv_roles
    ndjson = outlook(**builder_post(roles, fmt="ndjson", connection=database["id"]))
    assert "CSV holds an array" not in ndjson
    # Nothing was created by the refreshes, and the page's own POST still runs the export.
    assert not Export.objects.exists()
    response = admin_client_.post(
        "/t/userdesk-sandbox/exports/new/", builder_post([("email", "")]), headers=refresh
    )
    assert response.status_code == 302


# An array of objects (user_metadata.addresses) is refused as a CSV field whatever the query
# (taken, a plain export failed after submission and an exact one wrote JSON text).
@pytest.mark.parametrize("query", ["", "user_metadata.plan:pro", 'email:"x@example.com"'])
def test_csv_refuses_an_array_of_objects_at_the_field_whatever_the_query(
    admin_client_: Client, query: str
) -> None:
    from exports.fields import discovered_metadata

    data = builder_post([("email", ""), ("user_metadata.addresses", "")], match_query=query)
    response = admin_client_.post("/t/userdesk-sandbox/exports/new/", data)
    text = response.content.decode()
    assert response.status_code == 200
    assert "CSV cannot hold the whole object “user_metadata.addresses”" in text
    assert "user_metadata.addresses[0].&lt;field&gt;" in text
    assert not Export.objects.exists()
    # The sample knows it as an object, and its items' leaves are offered instead.
    leaves, objects = discovered_metadata()
    assert "user_metadata.addresses" in objects
    assert "user_metadata.addresses[0].city" in leaves
    leaf = builder_post([("email", ""), ("user_metadata.addresses[0].city", "")], match_query=query)
    assert admin_client_.post("/t/userdesk-sandbox/exports/new/", leaf).status_code == 302
    ndjson = builder_post([("email", ""), ("user_metadata.addresses", "")], fmt="ndjson")
    assert (
        admin_client_.post(
            "/t/userdesk-sandbox/exports/new/", {**ndjson, "match_query": query}
        ).status_code
        == 302
    )


def test_an_array_of_objects_the_sample_missed_is_refused_too() -> None:
    from exports.fields import objects_among

    found = objects_among(["user_metadata.addresses", "user_metadata.plan", "email"])
    assert found == {"user_metadata.addresses", "user_metadata.addresses[0]"}
    assert objects_among(["user_metadata.addresses"], known=["user_metadata.addresses"]) == set()


def test_the_error_summary_links_every_error_to_its_control(admin_client_: Client) -> None:
    fields = [(f"user_metadata.f{i}", "") for i in range(31)] + [("email", "=1+1")]
    response = admin_client_.post(
        "/t/userdesk-sandbox/exports/new/", builder_post(fields, limit="0")
    )
    body = response.content.decode()
    summary = body[
        body.index('id="error-summary"') : body.index("</div>", body.index("error-summary"))
    ]
    links = re.findall(r'<a href="#([^"]+)">([^<]+)</a>', summary)
    assert [target for target, _ in links] == ["fields", "id_limit", "id_r-31-export_as"]
    assert "at most 30 fields" in links[0][1]
    assert links[1][1].startswith("Limit: ")
    assert links[2][1].startswith("email: “=1+1” starts with “=”")
    assert body.index('id="error-summary"') < body.index("<fieldset")
    assert (
        'id="error-summary"'
        not in admin_client_.get("/t/userdesk-sandbox/exports/new/").content.decode()
    )


def test_a_limit_and_a_sample_of_10_that_disagree_are_refused(admin_client_: Client) -> None:
    """A limit and a sample that disagree are refused (limit 5 with "Sample of 10 users"
    exported 10)."""
    data = builder_post([("email", "")], limit="5", sample="on")
    response = admin_client_.post("/t/userdesk-sandbox/exports/new/", data)
    assert response.status_code == 200
    text = response.content.decode()
    assert "A limit of 5 and a sample of 10 users disagree" in text
    assert not Export.objects.exists()
    assert (
        admin_client_.post("/t/userdesk-sandbox/exports/new/", {**data, "limit": "10"}).status_code
        == 302
    )
    assert (
        admin_client_.post("/t/userdesk-sandbox/exports/new/", {**data, "limit": ""}).status_code
        == 302
    )
    assert [e.spec.limit for e in Export.objects.order_by("pk")] == [10, 10]


def test_the_error_summary_links_unreadable_conditions_to_their_message(
    admin_client_: Client,
) -> None:
    data = builder_post([("email", "")], conditions="not json", keep_conditions="on")
    body = admin_client_.post("/t/userdesk-sandbox/exports/new/", data).content.decode()
    assert '<a href="#conditions-error">Row conditions: The row conditions could not' in body
    assert 'id="conditions-error"' in body
