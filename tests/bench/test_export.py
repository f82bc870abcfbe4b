"""bench/export.py serves the files it measures: a CSV and an NDJSON file from any folders."""

from __future__ import annotations

import gzip
from pathlib import Path

import httpx

from bench.export import ndjson_keys, serve


def test_the_two_files_are_served_from_their_own_folders(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    csv_file = tmp_path / "a" / "users.csv.gz"
    ndjson_file = tmp_path / "b" / "users.json.gz"
    csv_file.write_bytes(gzip.compress(b"Id\nauth0|1\n"))
    ndjson_file.write_bytes(gzip.compress(b'{"Id": "auth0|1"}\n'))
    server, base = serve({"/csv/users.csv.gz": csv_file, "/ndjson/users.json.gz": ndjson_file})
    try:
        assert httpx.get(f"{base}/csv/users.csv.gz").content == csv_file.read_bytes()
        assert httpx.get(f"{base}/ndjson/users.json.gz").content == ndjson_file.read_bytes()
        # Nothing else of either folder is reachable.
        assert httpx.get(f"{base}/users.csv.gz").status_code == 404
        assert httpx.get(f"{base}/ndjson/../a/users.csv.gz").status_code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_the_ndjson_keys_are_those_of_every_line(tmp_path: Path) -> None:
    path = tmp_path / "users.json.gz"
    # Auth0 leaves missing values out, so lines differ in their keys.
    path.write_bytes(gzip.compress(b'{"Id": "1", "email": "a@b.c"}\n{"Id": "2", "name": "N"}'))
    assert ndjson_keys(path) == {"Id", "email", "name"}
