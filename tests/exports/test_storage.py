"""Export files kept in S3-compatible storage (django-storages), against moto's local S3 server."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from exports import retention, tasks
from exports.models import Status
from tests.fixtures.celery import CSV_SPEC, drive
from tests.fixtures.sandbox import free_port

BUCKET = "userdesk-exports-test"


@pytest.fixture
def s3(settings: Any, export_settings: Any) -> Iterator[Any]:
    moto_server = pytest.importorskip("moto.server", reason="moto[server] is a dev dependency")
    import boto3

    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **credentials)
    client.create_bucket(Bucket=BUCKET)
    # The same options config/settings.py builds when EXPORT_S3_BUCKET is set.
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": endpoint,
                "region_name": "us-east-1",
                "access_key": "testing",
                "secret_key": "testing",
                "location": "exports",
                "default_acl": "private",
                "querystring_auth": True,
                "file_overwrite": False,
            },
        },
    }
    try:
        yield client
    finally:
        server.stop()


def keys(client: Any) -> list[str]:
    listing = client.list_objects_v2(Bucket=BUCKET)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def test_exports_are_kept_served_and_purged_in_s3(
    s3: Any, use_sandbox: Any, admin_client_: Client, export_admin: User
) -> None:
    export = drive(tasks.create_export({**CSV_SPEC, "limit": 30}, requested_by=export_admin).pk)
    assert export.status == Status.READY, export.failure_reason
    assert keys(s3) == [f"exports/{export.file.name}"]
    kept = s3.get_object(Bucket=BUCKET, Key=f"exports/{export.file.name}")["Body"].read()
    assert len(kept) == export.compressed_size

    response = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/download/original/")
    assert b"".join(response.streaming_content) == kept  # type: ignore[attr-defined]
    response = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/download/uncompressed/")
    assert b"".join(response.streaming_content) == gzip.decompress(kept)  # type: ignore[attr-defined]
    detail = admin_client_.get(f"/t/userdesk-sandbox/exports/{export.pk}/")
    assert len(detail.context["preview"].rows) == 30

    assert retention.purge(export, reason="test")
    assert keys(s3) == []
