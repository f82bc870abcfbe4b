"""Nothing lost under faults, with a real Redis broker and real Celery workers.

(a) broker down at submit, (b) a worker SIGKILLed mid-download, (e) the same task delivered
twice. Workers in subprocesses need a database another process can open (PostgreSQL, as CI
runs); the in-process worker tests run on any database.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User
from django.test import Client

from exports import tasks
from exports.models import Export, Status
from exports.tasks import run_export, sweep_exports
from tests.fixtures.celery import CSV_SPEC, point_app_at, stored_files, wait_for
from tests.fixtures.exports import builder_post
from tests.fixtures.sandbox import SandboxServer, free_port

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("use_sandbox", "export_settings")]


def ready_export(export_id: int, timeout: float = 90.0) -> Export:
    def settled() -> Export | None:
        export = Export.objects.get(pk=export_id)
        return export if export.is_settled else None

    export: Export = wait_for(settled, timeout=timeout, every=0.1)
    assert export.status == Status.READY, export.failure_reason
    return export


def test_submitted_export_runs_on_a_real_worker(
    celery_worker: Any, admin_client_: Client, export_settings: Path, settings: Any
) -> None:
    settings.EXPORT_LEASE_SECONDS = 5
    response = admin_client_.post(
        "/t/userdesk-sandbox/exports/new/", builder_post([("email", "")], limit="20")
    )
    assert response.status_code == 302
    export = ready_export(Export.objects.get().pk)
    assert export.row_count == 20
    assert len(stored_files(export_settings)) == 1


def test_broker_down_at_submit_then_the_sweep_recovers(
    celery_broker: str,
    transactional_db: None,
    admin_client_: Client,
    export_settings: Path,
    settings: Any,
) -> None:
    # (a) Nothing listens on this port: publishing fails after the row is committed.
    point_app_at(f"redis://127.0.0.1:{free_port()}/0")
    response = admin_client_.post(
        "/t/userdesk-sandbox/exports/new/", builder_post([("email", "")], limit="15")
    )
    assert response.status_code == 302
    export = Export.objects.get()
    assert export.status == Status.QUEUED
    body = admin_client_.get("/t/userdesk-sandbox/exports/").content.decode()
    assert f'id="export-row-{export.pk}"' in body
    assert 'data-status="queued"' in body

    # The broker is back; a worker runs; beat's sweep re-enqueues what was never delivered.
    point_app_at(celery_broker)
    settings.EXPORT_QUEUED_GRACE_SECONDS = 0
    settings.EXPORT_LEASE_SECONDS = 5
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING"):
        sweep_exports.delay()
        export = ready_export(export.pk)
    assert export.row_count == 15
    assert len(stored_files(export_settings)) == 1


class HoldingProxy:
    """A local HTTP proxy in front of the sandbox: counts the export jobs created, and can
    hold a download after its first kilobyte until released (to kill a worker mid-download).
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.hold = False
        self.download_started = threading.Event()
        self.release = threading.Event()
        self.calls: Counter[str] = Counter()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                key = f"{self.command} {self.path.split('?')[0]}"
                proxy.calls[key] += 1
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("content-length", "connection", "accept-encoding")
                }
                with (
                    httpx.Client(timeout=30) as client,
                    client.stream(
                        self.command, proxy.upstream + self.path, headers=headers, content=body
                    ) as upstream,
                ):
                    data = upstream.read()
                    self.send_response(upstream.status_code)
                    for k, v in upstream.headers.items():
                        if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    is_download = self.path.startswith("/exports/") and upstream.status_code == 200
                    if is_download and proxy.hold:
                        self.wfile.write(data[:1024])
                        self.wfile.flush()
                        proxy.download_started.set()
                        proxy.release.wait(timeout=120)
                        try:
                            self.wfile.write(data[1024:])
                        except OSError:
                            return
                    else:
                        self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def jobs_created(self) -> int:
        return self.calls["POST /api/v2/jobs/users-exports"]

    def __enter__(self) -> HoldingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(use_sandbox: SandboxServer, settings: Any) -> Iterator[HoldingProxy]:
    with HoldingProxy(use_sandbox.base_url) as running:
        settings.AUTH0_BASE_URL = running.url
        yield running


def test_worker_killed_mid_download_completes_after_restart(
    celery_broker: str,
    worker_process: Any,
    proxy: HoldingProxy,
    export_admin: User,
    export_settings: Path,
    settings: Any,
) -> None:
    # (b) Short leases so a dead worker's claim lapses quickly.
    settings.EXPORT_LEASE_SECONDS = 3
    settings.EXPORT_STALE_SECONDS = 1
    first = worker_process(EXPORT_LEASE_SECONDS="3").start()
    proxy.hold = True
    export = tasks.create_export(CSV_SPEC, requested_by=export_admin)

    assert proxy.download_started.wait(timeout=60), first.log()
    assert Export.objects.get(pk=export.pk).status == Status.DOWNLOADING
    first.kill()
    proxy.hold = False
    proxy.release.set()
    assert stored_files(export_settings) == []

    worker_process(EXPORT_LEASE_SECONDS="3").start()
    # Beat's sweep finds the export with a lapsed lease and no heartbeat, and re-enqueues it.
    wait_for(lambda: sweep_exports() > 0, timeout=30, every=0.2)
    export = ready_export(export.pk)

    assert proxy.jobs_created == 1
    files = stored_files(export_settings)
    assert len(files) == 1
    assert hashlib.sha256(files[0].read_bytes()).hexdigest() == export.sha256
    assert export.row_count == 300
    downloads = [
        key for key, count in proxy.calls.items() for _ in range(count) if "/exports/" in key
    ]
    assert len(downloads) == 2


def test_the_same_task_delivered_twice_makes_one_job_and_one_file(
    celery_broker: str,
    worker_process: Any,
    proxy: HoldingProxy,
    export_admin: User,
    export_settings: Path,
) -> None:
    # (e) Two worker processes, the same message twice, at once.
    worker_process(concurrency=2).start()
    export = tasks.create_export({**CSV_SPEC, "limit": 40}, requested_by=export_admin)
    run_export.apply_async((export.pk, export.step))
    export = ready_export(export.pk)
    # And once more after it settled: a late duplicate does nothing.
    run_export.apply_async((export.pk, 0))

    assert proxy.jobs_created == 1
    assert len(stored_files(export_settings)) == 1
    assert export.row_count == 40
    assert Export.objects.get(pk=export.pk).status == Status.READY
