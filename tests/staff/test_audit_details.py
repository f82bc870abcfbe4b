"""The audit page's details in words (staff.audit.readable_details)."""

from __future__ import annotations

from staff.audit import readable_details


def test_an_empty_object_inside_a_detail_reads_none() -> None:
    """A link that kept none of the secondary's metadata stores `merged: {}`: the audit page
    says "merged: none", not "merged: " followed by nothing."""
    details = {"after": {"identities": "google-oauth2|1, auth0|2", "merged": {}}}
    assert readable_details(details) == [
        ("After", "identities: google-oauth2|1, auth0|2, merged: none")
    ]
