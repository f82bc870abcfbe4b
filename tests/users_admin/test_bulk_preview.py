"""A bulk run's action and its preview: per-user change or skip reason, counts, side effects
and duration, all from the snapshot; nothing reaches Auth0 before the run starts."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.db import connection
from django.test import Client
from isal import isal_zlib

from staff.models import AuditEvent
from tests.fixtures.bulk import DB, make_run, selected, tenant, use_tenant  # noqa: F401 (fixtures)
from tests.fixtures.celery import wait_for
from tests.fixtures.sandbox import SandboxServer
from users_admin import bulk, bulk_rows
from users_admin.models import BulkItem, BulkRun, BulkRunStatus

# The bulk pages of the test tenant.
BULK = "/t/userdesk-sandbox/bulk"

GOOGLE = [{"connection": "google-oauth2", "provider": "google-oauth2", "isSocial": True}]
SMS = [{"connection": "sms", "provider": "sms"}]


def check(name: str, profile: dict[str, Any], params: Any = None) -> Any:
    action = bulk.ACTIONS[name]
    params = params or {}
    reason = action.applies_to("auth0|1", profile, params)
    return reason if reason else action.preview("auth0|1", profile, params)


def test_each_action_applies_where_it_makes_sense_and_says_why_not() -> None:
    blocked = {"blocked": True, "identities": DB, "email": "a@x.io"}
    active = {"identities": DB, "email": "a@x.io", "email_verified": False}
    assert check("block", blocked) == "The user is already blocked."
    assert check("block", active) == ({"blocked": False}, {"blocked": True})
    assert check("unblock", active) == "The user is not blocked."
    assert check("unblock", blocked) == ({"blocked": True}, {"blocked": False})
    verified = {**active, "email_verified": True}
    assert check("resend-verification", verified) == "The email address is already verified."
    assert check("resend-verification", {"identities": DB}) == "The user has no email address."
    assert "does not verify emails of sms" in check(
        "resend-verification", {**active, "identities": SMS}
    )
    assert check("resend-verification", active)[1]["verification_email"] == "a@x.io"
    assert "signs in with google-oauth2" in check(
        "password-email", {**active, "identities": GOOGLE}
    )
    assert check("password-email", {"identities": DB}) == "The user has no email address."
    assert check("password-email", active)[1] == {"reset_email": "a@x.io"}
    assert check("delete", active)[1] == {"deleted": True}
    # What the snapshot does not hold is checked when the run reaches the user.
    assert check("clear-blocks", active) == ({}, {"checked": "when the run reaches the user"})


def test_a_metadata_patch_previews_only_the_keys_it_touches() -> None:
    profile = {"app_metadata": {"plan": "free", "trial": True, "region": "eu"}}
    params = {"which": "app_metadata", "patch": {"plan": "pro", "trial": None, "new": [1]}}
    assert check("metadata", profile, params) == (
        {"app_metadata": {"plan": "free", "trial": True}},
        {"app_metadata": {"plan": "pro", "new": [1]}},
    )
    same = {"which": "app_metadata", "patch": {"region": "eu", "gone": None}}
    assert check("metadata", profile, same) == "The user already has these values."


# --- choosing the action -------------------------------------------------------------------


def action_post(action: str, **extra: str) -> dict[str, str]:
    return {"action": action, "reason": "Ticket 42: compromised domain", **extra}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "field", "said"),
    [
        (action_post("metadata", patch="{plan: pro}"), "patch", "not valid JSON"),
        (action_post("metadata", patch="[1]"), "patch", "must be a JSON object"),
        (action_post("metadata", patch="{}"), "patch", "at least one key"),
        (action_post("metadata", patch=""), "patch", "Type the keys"),
        (action_post("metadata", patch='{"a.b": 1}'), "patch", "'.' or '$'"),
        (action_post("metadata", which="app_metadata", patch='{"email": 1}'), "patch", "email"),
        ({"action": "block", "reason": ""}, "reason", "Type the reason"),
        (action_post("delete"), "action", "Select a valid choice"),
    ],
)
def test_a_bad_action_is_refused_at_its_field_and_nothing_is_previewed(
    lead_client: Client, data: dict[str, str], field: str, said: str
) -> None:
    run = make_run([{"identities": DB}])
    response = lead_client.post(f"{BULK}/{run.pk}/action/", data)
    assert response.status_code == 200  # the page again, the field in error
    form = response.context["form"]
    assert said in " ".join(form.errors[field])
    assert [name for name in form.fields if "autofocus" in str(form[name])] == [field]
    run.refresh_from_db()
    assert run.status == BulkRunStatus.SELECTED
    assert not run.action


@pytest.mark.django_db
def test_delete_is_offered_only_while_the_delete_setting_is_on(
    lead_client: Client, settings: Any
) -> None:
    run = make_run([{"identities": DB}])
    assert 'value="delete"' not in lead_client.get(f"{BULK}/{run.pk}/").content.decode()
    settings.USERDESK_ALLOW_USER_DELETE = True
    assert 'value="delete"' in lead_client.get(f"{BULK}/{run.pk}/").content.decode()


@pytest.mark.django_db
def test_the_preview_counts_changes_and_skips_by_reason_with_warnings_and_duration(
    lead_client: Client, settings: Any
) -> None:
    settings.AUTH0_RATE_LIMIT_PLAN = "free"  # one bucket of 2 calls a second
    settings.BULK_INTERACTIVE_RESERVE = 0.75
    profiles = [{"identities": DB, "blocked": True} for _ in range(3)]
    profiles += [{"identities": DB} for _ in range(40)]
    run = make_run(profiles)
    response = lead_client.post(f"{BULK}/{run.pk}/action/", action_post("block", ticket="T-9"))
    assert response.status_code == 302
    run.refresh_from_db()
    bulk.compute_preview(run.pk, run.preview_version)  # the worker's task
    run.refresh_from_db()
    assert run.status == BulkRunStatus.PREVIEWED
    assert run.change_count == 40
    assert run.skip_counts == {"The user is already blocked.": 3}
    assert run.expected_seconds == 160  # 40 reads and 40 calls at a quarter of 2 a second
    page = lead_client.get(f"{BULK}/{run.pk}/").content.decode()
    assert "<dd>40</dd>" in page
    assert "3: The user is already blocked." in page
    assert "about 3 minutes" in page
    assert "sign them out everywhere too" in page
    assert "Page 1 of 2" in page
    assert "Skipped: The user is already blocked." in page
    assert "{&quot;blocked&quot;: true}" in page
    assert "nothing has been sent to Auth0" in page
    second = lead_client.get(f"{BULK}/{run.pk}/", {"sample": "2"}).content.decode()
    assert "Page 2 of 2" in second
    # Once the run has started, the preview no longer says nothing was sent.
    run.status = BulkRunStatus.DONE
    run.save()
    finished = lead_client.get(f"{BULK}/{run.pk}/").content.decode()
    assert "nothing has been sent to Auth0" not in finished
    assert "Worked out from the snapshot before the run started" in finished
    event = AuditEvent.objects.get(action="bulk.previewed")
    assert event.details["ticket"] == "T-9"
    assert event.details["bulk_action"] == "block"


@pytest.mark.django_db
def test_a_preview_of_an_older_choice_is_never_stored(lead_client: Client) -> None:
    run = make_run([{"identities": DB}])
    assert bulk.choose(run, bulk.ACTIONS["block"], {}, "reason one", "")
    old = run.preview_version
    assert bulk.choose(run, bulk.ACTIONS["unblock"], {}, "reason two", "")
    bulk.compute_preview(run.pk, old)
    run.refresh_from_db()
    assert run.status == BulkRunStatus.PREVIEWING
    polled = lead_client.get(f"{BULK}/{run.pk}/", headers={"HX-Request": "true"})
    assert "Preparing the preview" in polled.content.decode()
    bulk.compute_preview(run.pk, run.preview_version)
    run.refresh_from_db()
    assert (run.action, run.skip_counts) == ("unblock", {"The user is not blocked.": 1})


@pytest.mark.slow
def test_a_metadata_preview_of_a_search_sends_nothing_to_auth0(
    celery_worker: Any,
    use_tenant: SandboxServer,  # noqa: F811
    lead_client: Client,
) -> None:
    q = "app_metadata.plan:enterprise"
    lead_client.post(f"{BULK}/new/", {"source": "query", "query": q})
    run = selected(BulkRun.objects.get().pk)
    assert run.selected_count
    before = use_tenant.requests_seen()
    data = action_post("metadata", which="app_metadata", patch='{"plan": "pro", "x": null}')
    assert lead_client.post(f"{BULK}/{run.pk}/action/", data).status_code == 302

    def previewed() -> BulkRun | None:
        found = BulkRun.objects.get(pk=run.pk)
        return found if found.status == BulkRunStatus.PREVIEWED else None

    run = wait_for(previewed, timeout=60, every=0.1)
    assert run.change_count == run.selected_count
    item = bulk_rows.ItemPages(run)[0]
    assert bulk.planned(run, item) == (
        {"app_metadata": {"plan": "enterprise"}},
        {"app_metadata": {"plan": "pro"}},
    )
    assert use_tenant.requests_seen() == before


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["block", "unblock", "resend-verification", "password-email"])
def test_a_preview_reading_only_its_action_s_fields_skips_as_the_whole_profile_would(
    name: str,
) -> None:
    profiles: list[dict[str, Any]] = [
        {"blocked": True, "identities": DB, "email": "a@x.io", "email_verified": True},
        {"identities": DB, "email": "b@x.io", "email_verified": False},
        {"identities": GOOGLE, "email": "c@x.io", "email_verified": False},
        {"identities": SMS, "email": "d@x.io"},
        {"identities": DB, "email": "", "blocked": False},
        {"email": "f@x.io", "app_metadata": {"blocked": True}},
    ]
    action = bulk.ACTIONS[name]
    whole = [
        action.applies_to(f"auth0|{n}", {**p, "user_id": f"auth0|{n}"}, {})
        for n, p in enumerate(profiles)
    ]
    assert len(set(whole)) > 1
    run = make_run([dict(p) for p in profiles])
    assert bulk.choose(run, action, {}, "reason", "")
    bulk.compute_preview(run.pk, run.preview_version)
    assert [i.skip_reason for i in bulk_rows.every_item(run)] == [r or "" for r in whole]


@pytest.mark.django_db
def test_a_preview_decodes_a_line_whose_key_may_be_written_escaped() -> None:
    # A line proves a change without being decoded only when the patch's key is nowhere in
    # it and nothing in it is \\u-escaped: "\\u0070lan" is "plan", which the user has.
    # The same for the value: "\\u0070ro" is "pro"; and "pro" elsewhere proves nothing.
    run = make_run([{"identities": DB}])
    with bulk_rows.BlockWriter(run) as writer:
        writer.count = 1
        writer.add_lines(
            [
                b'{"user_id":"auth0|9","email":"e@x.io","app_metadata":{"\\u0070lan":"pro"}}',
                b'{"user_id":"auth0|10","email":"f@x.io","app_metadata":{"plan":"\\u0070ro"}}',
                b'{"user_id":"auth0|11","email":"g@x.io","app_metadata":{"plan":"pro "}}',
                b'{"user_id":"auth0|12","user_metadata":{"plan":"pro"},"app_metadata":{"plan":1}}',
                b'{"user_id":"auth0|13","email":"h@x.io","app_metadata":{"plan":"pro"}}',
            ]
        )
    run.selected_count = 6
    run.save()
    params = {"which": "app_metadata", "patch": {"plan": "pro"}}
    assert bulk.choose(run, bulk.ACTIONS["metadata"], params, "reason", "")
    bulk.compute_preview(run.pk, run.preview_version)
    run.refresh_from_db()
    assert (run.change_count, run.skip_counts) == (3, {"The user already has these values.": 3})
    skipped = [i.user_id for i in bulk_rows.every_item(run) if i.skip_reason]
    assert skipped == ["auth0|9", "auth0|10", "auth0|13"]


@pytest.mark.django_db
def test_blocks_written_before_as_arrays_still_read() -> None:
    # Blocks held [user id, email, profile] lines before they held the export's objects.
    run = make_run([])
    lines = [["auth0|1", "a@x.io", {"blocked": True, "identities": DB}], ["auth0|2", "", {}]]
    run.blocks.create(
        first=0, size=2, data=isal_zlib.compress(b"\n".join(map(orjson.dumps, lines)))
    )
    run.selected_count = 2
    run.save()
    assert bulk_rows.users_of(run.blocks.get()) == [tuple(line) for line in lines]
    assert bulk.choose(run, bulk.ACTIONS["block"], {}, "reason", "")
    bulk.compute_preview(run.pk, run.preview_version)
    run.refresh_from_db()
    assert (run.change_count, run.skip_counts) == (1, {"The user is already blocked.": 1})
    params = {"which": "app_metadata", "patch": {"plan": "pro"}}
    assert bulk.choose(run, bulk.ACTIONS["metadata"], params, "reason", "")
    bulk.compute_preview(run.pk, run.preview_version)
    run.refresh_from_db()
    assert run.change_count == 2


@pytest.mark.django_db
def test_a_run_s_users_span_blocks_in_order_and_become_items_once(monkeypatch: Any) -> None:
    monkeypatch.setattr(bulk_rows, "BLOCK", 3)
    profiles = [{"identities": DB, "blocked": n in (1, 5)} for n in range(8)]
    run = make_run(profiles)
    assert [(b.first, b.size) for b in run.blocks.all()] == [(0, 3), (3, 3), (6, 2)]
    assert bulk.choose(run, bulk.ACTIONS["block"], {}, "reason", "")
    bulk.compute_preview(run.pk, run.preview_version)
    run.refresh_from_db()
    assert (run.change_count, run.skip_counts) == (6, {"The user is already blocked.": 2})
    pages = bulk_rows.ItemPages(run)
    assert len(pages) == 8
    across = pages[2:7]  # the end of one block, a whole one, the start of the next
    assert [i.position for i in across] == [2, 3, 4, 5, 6]
    assert [i.user_id for i in across] == [f"auth0|{n}" for n in range(2, 7)]
    assert [bool(i.skip_reason) for i in across] == [False, False, False, True, False]

    # Another action's preview forgets the first one's skips.
    assert bulk.choose(run, bulk.ACTIONS["unblock"], {}, "reason", "")
    bulk.compute_preview(run.pk, run.preview_version)
    run.refresh_from_db()
    assert run.change_count == 2
    assert [i.position for i in bulk_rows.every_item(run) if not i.skip_reason] == [1, 5]
    assert bulk.choose(run, bulk.ACTIONS["block"], {}, "reason", "")
    bulk.compute_preview(run.pk, run.preview_version)

    # A worker makes a block's users items (a second worker, or a second call, adds none);
    # the page and the result file show the saved item once there is one.
    middle = run.blocks.get(first=3)
    bulk_rows.make_items(run, middle)
    bulk_rows.make_items(run, middle)
    assert list(run.items.values_list("position", "skip_reason")) == [
        (3, ""),
        (4, ""),
        (5, "The user is already blocked."),
    ]
    run.items.filter(position=4).update(outcome="done", message="sent")
    assert pages[4].outcome == "done"
    assert pages[4].pk is not None
    assert [(i.position, i.outcome) for i in bulk_rows.every_item(run)] == [
        (n, "done" if n == 4 else "") for n in range(8)
    ]


@pytest.mark.django_db
def test_a_metadata_preview_skips_as_the_whole_profile_would(monkeypatch: Any) -> None:
    # The preview decodes only the field the patch touches (and an undo's own patch).
    monkeypatch.setattr(bulk_rows, "BLOCK", 2)
    has = {"plan": "pro", "note": "line\nbreak é"}
    profiles: list[dict[str, Any]] = [
        {"identities": DB, "app_metadata": has, "user_metadata": {"plan": "free"}},
        {"identities": DB, "app_metadata": {"plan": "free"}},
        {"identities": DB},
        {"identities": DB, "app_metadata": None},
        {"identities": DB, "user_metadata": has},
        {"app_metadata": {"plan": "pro"}, "identities": [{"profileData": {"plan": "x"}}]},
    ]
    params = {"which": "app_metadata", "patch": {"plan": "pro"}}
    whole = [bulk.ACTIONS["metadata"].applies_to("auth0|1", dict(p), params) for p in profiles]
    assert [bool(reason) for reason in whole] == [True, False, False, False, False, True]
    run = make_run(profiles)
    assert bulk.choose(run, bulk.ACTIONS["metadata"], params, "reason", "")
    bulk.compute_preview(run.pk, run.preview_version)
    run.refresh_from_db()
    assert (run.change_count, run.skip_counts) == (4, {"The user already has these values.": 2})
    assert [i.skip_reason for i in bulk_rows.every_item(run)] == [r or "" for r in whole]
    assert bulk_rows.users_of(run.blocks.get(first=0), ("app_metadata",))[0] == (
        "auth0|0",
        "u0@x.io",
        {"app_metadata": has},
    )

    # An undo run's users each carry their own patch, read with the field.
    undo = make_run([{"app_metadata": {"a": 1}, bulk.UNDO: {"patch": {"a": 1}, "expect": {}}}])
    assert bulk.choose(undo, bulk.ACTIONS["metadata"], {**params, "undo": True}, "reason", "")
    bulk.compute_preview(undo.pk, undo.preview_version)
    undo.refresh_from_db()
    assert (undo.change_count, undo.skip_counts) == (0, {"The user already has these values.": 1})


@pytest.mark.django_db
def test_writing_a_run_s_blocks_keeps_no_query_text_with_debug_on(
    settings: Any, monkeypatch: Any
) -> None:
    # DEBUG keeps every query's text: a million users' blocks were hundreds of megabytes.
    settings.DEBUG = True
    monkeypatch.setattr(bulk_rows, "BLOCK", 2)
    monkeypatch.setattr(bulk_rows, "BLOCKS_AT_ONCE", 1)
    run = make_run([{"identities": DB} for _ in range(5)])
    assert not [q for q in connection.queries if "bulkblock" in q["sql"].lower()]
    assert run.blocks.count() == 3


@pytest.mark.django_db
def test_a_run_made_before_blocks_still_shows_its_users_and_results() -> None:
    # Runs selected before users were kept in blocks have an item for every user.
    run = make_run([])
    run.selected_count = 3
    run.save()
    BulkItem.objects.bulk_create(
        BulkItem(run=run, position=n, user_id=f"auth0|{n}", profile={}) for n in range(3)
    )
    assert [i.user_id for i in bulk_rows.ItemPages(run)[1:3]] == ["auth0|1", "auth0|2"]
    assert [i.position for i in bulk_rows.every_item(run)] == [0, 1, 2]
