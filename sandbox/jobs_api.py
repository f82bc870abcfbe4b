"""Jobs over HTTP: export and import creation, read, errors, and the signed download link."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.multipartparser import MultiPartParserError
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from sandbox import faults, importing, jobs
from sandbox.exporting import FieldPathError, parse_path
from sandbox.http import (
    JSON_CONTENT_TYPE,
    api_error,
    json_response,
    json_type,
    management_api,
    method_not_allowed,
    not_found,
    sandbox_switches,
    strict_json,
)
from sandbox.job_models import ExportJob, job_dir
from sandbox.models import Connection, SearchTerm

JOB_ID = re.compile(r"^job_[A-Za-z0-9]{16}$")
CONNECTION_ID = re.compile(r"^con_[A-Za-z0-9]{16}$")
ALLOWED_KEYS = ("connection_id", "format", "limit", "fields")
CSV_FIELD_LIMIT = 30
# Whole objects or arrays: only JSON exports can hold them; CSV needs leaf or indexed paths.
WHOLE_VALUES = ("app_metadata", "user_metadata", "identities", "multifactor")
# The largest integer a JavaScript number holds exactly; Auth0's validator sees nothing larger.
MAX_LIMIT = 2**53 - 1
FORM_FIELD = re.compile(r"^fields\[(\d+)\]\[(name|export_as)\]$")


class Invalid(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _payload_error(message: str) -> JsonResponse:
    return api_error(400, f"Payload validation error: {message}", "invalid_body")


def _form_body(request: HttpRequest) -> dict[str, Any]:
    """Form bodies carry `fields` in bracket notation: fields[0][name]=email."""
    body: dict[str, Any] = {}
    fields: dict[int, dict[str, str]] = {}
    for key, value in parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True):
        match = FORM_FIELD.match(key)
        if match:
            fields.setdefault(int(match.group(1)), {})[match.group(2)] = value
        elif key == "limit":
            try:
                body[key] = int(value)
            except ValueError:
                body[key] = value
        else:
            body[key] = value
    if fields:
        body["fields"] = [fields[index] for index in sorted(fields)]
    return body


def _check_fields(fields: Any, fmt: str) -> list[dict[str, str]]:
    if not isinstance(fields, list):
        raise Invalid(
            "'Expected type array but found type " + json_type(fields) + "' on property fields."
        )
    checked: list[dict[str, str]] = []
    for index, item in enumerate(fields):
        where = f"fields[{index}]"
        if not isinstance(item, dict):
            raise Invalid(
                f"'Expected type object but found type {json_type(item)}' on property {where}."
            )
        extra = sorted(set(item) - {"name", "export_as"})
        if extra:
            raise Invalid(
                f"'Additional properties not allowed: {', '.join(extra)}' on property {where}."
            )
        if "name" not in item:
            raise Invalid(f"'Missing required property: name' on property {where}.")
        spec: dict[str, str] = {}
        for key in ("name", "export_as"):
            if key not in item:
                continue
            value = item[key]
            if not isinstance(value, str):
                raise Invalid(
                    f"'Expected type string but found type {json_type(value)}' "
                    f"on property {where}.{key}."
                )
            if len(value) > 100:
                raise Invalid(
                    f"'String is too long ({len(value)} chars), maximum 100' "
                    f"on property {where}.{key}."
                )
            if not value:
                raise Invalid(
                    f"'String is too short (0 chars), minimum 1' on property {where}.{key}."
                )
            spec[key] = value
        try:
            parse_path(spec["name"])
        except FieldPathError as exc:
            raise Invalid(f"{exc} (property {where}.name).") from None
        checked.append(spec)
    if fmt == "csv":
        if len(checked) > CSV_FIELD_LIMIT:
            raise Invalid(
                f"CSV exports are limited to {CSV_FIELD_LIMIT} fields, got {len(checked)}; "
                "use the json format for more."
            )
        for spec in checked:
            _check_csv_leaf(spec["name"])
    return checked


def _check_csv_leaf(name: str) -> None:
    if name in WHOLE_VALUES:
        example = (
            "identities[0].connection"
            if name in ("identities", "multifactor")
            else (f"{name}.plan")
        )
        raise Invalid(
            f"{name} cannot be exported whole in CSV; list its fields (like {example}) "
            "or use the json format."
        )
    if name.startswith(("app_metadata.", "user_metadata.")):
        # An object path has flattened leaves below it in the search terms.
        below = SearchTerm.objects.filter(path__gt=name + ".", path__lt=name + "/").exists()
        if below:
            raise Invalid(
                f"{name} is an object and cannot be exported whole in CSV; list its leaf fields "
                f"(like {name}.<field>) or use the json format."
            )


def _validated(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise Invalid(f"'Expected type object but found type {json_type(body)}'.")
    extra = sorted(set(body) - set(ALLOWED_KEYS))
    if extra:
        raise Invalid(f"'Additional properties not allowed: {', '.join(extra)}'.")
    fmt = body.get("format", "csv")
    if fmt not in ("json", "csv"):
        raise Invalid(
            f"'No enum match for: {fmt}' on property format "
            '(The format of the file. Valid values are: "json" and "csv".).'
        )
    spec: dict[str, Any] = {"format": fmt, "fields": None, "limit": None, "connection_id": ""}
    if "connection_id" in body:
        connection_id = body["connection_id"]
        if not isinstance(connection_id, str):
            raise Invalid(
                f"'Expected type string but found type {json_type(connection_id)}' "
                "on property connection_id."
            )
        if not CONNECTION_ID.match(connection_id):
            raise Invalid(
                f"'String does not match pattern ^con_[A-Za-z0-9]{{16}}$: {connection_id}' "
                "on property connection_id (connection_id of the connection from which users "
                "will be exported.)."
            )
        spec["connection_id"] = connection_id
    if "limit" in body:
        limit = body["limit"]
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise Invalid(
                f"'Expected type integer but found type {json_type(limit)}' on property limit."
            )
        if limit < 1:
            raise Invalid(f"'Value {limit} is less than minimum 1' on property limit.")
        if limit > MAX_LIMIT:
            raise Invalid(f"'Value {limit} is greater than maximum {MAX_LIMIT}' on property limit.")
        spec["limit"] = limit
    if "fields" in body:
        spec["fields"] = _check_fields(body["fields"], fmt)
    return spec


def _import_json(job: ExportJob) -> dict[str, Any]:
    # The recorded key order (go-auth0 TestJobManager_ImportUsers.yaml).
    body: dict[str, Any] = {
        "type": job.type,
        "status": job.status,
        "connection_id": job.connection_id,
    }
    if job.status == ExportJob.COMPLETED and job.summary is not None:
        body["summary"] = job.summary
    if job.external_id:
        body["external_id"] = job.external_id
    body["connection"] = job.connection_name
    body["created_at"] = _iso(job.created_at)
    body["id"] = job.id
    if job.status == ExportJob.FAILED:
        body["status_details"] = job.status_details
    return body


def job_json(job: ExportJob, request: HttpRequest | None = None) -> dict[str, Any]:
    if job.type == ExportJob.USERS_IMPORT:
        return _import_json(job)
    if job.type == ExportJob.VERIFICATION_EMAIL:
        # Only these four keys, whatever the status (recorded).
        return {
            "type": job.type,
            "status": job.status,
            "created_at": _iso(job.created_at),
            "id": job.id,
        }
    body: dict[str, Any] = {"type": "users_export", "status": job.status}
    if job.connection_id:
        body["connection_id"] = job.connection_id
    body["format"] = job.format
    if job.limit is not None:
        body["limit"] = job.limit
    if job.fields is not None:
        body["fields"] = job.fields
    if job.connection_name:
        body["connection"] = job.connection_name
    body["created_at"] = _iso(job.created_at)
    body["id"] = job.id
    if job.status == ExportJob.PROCESSING:
        body.update(_progress(job))
    elif job.status == ExportJob.COMPLETED and request is not None:
        body["location"] = signed_location(request, job)
    elif job.status == ExportJob.FAILED:
        body["status_details"] = job.status_details
    return body


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def _progress(job: ExportJob) -> dict[str, int]:
    total = max(job.rows_total, 1)
    done = min(job.rows_done, total)
    percentage = int(100 * done / total)
    left = 0
    if job.started_at and done:
        elapsed = (faults.now() - job.started_at).total_seconds()
        left = round(elapsed / done * (total - done))
    elif job.started_at:
        left = max(1, total // 50_000)
    return {"percentage_done": percentage, "time_left_seconds": max(0, int(left))}


def _signature(path: str, expires: int) -> str:
    digest = hmac.new(
        settings.SANDBOX_SIGNING_KEY.encode(), f"{path}?Expires={expires}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def link_seconds(switches: dict[str, Any]) -> int:
    return int(switches["link_seconds"]) or settings.SANDBOX_EXPORT_LINK_SECONDS


def signed_location(request: HttpRequest, job: ExportJob) -> str:
    seconds = link_seconds(sandbox_switches(request))
    expires = int(faults.now().timestamp()) + seconds
    path = f"/exports/{job.id}/{job.file_name}"
    query = f"Expires={expires}&Signature={_signature(path, expires)}"
    return f"{request.scheme}://{request.get_host()}{path}?{query}"


def _live_job(job_id: str) -> ExportJob | None:
    job = ExportJob.objects.filter(id=job_id).first()
    if job is not None and jobs.is_expired(job):
        jobs.delete(job)
        return None
    return job


def _job_or_error(job_id: str) -> ExportJob | JsonResponse:
    if not JOB_ID.match(job_id):
        return api_error(
            400,
            f"Path validation error: 'String does not match pattern ^job_[A-Za-z0-9]{{16}}$: "
            f"{job_id}' on property id (The id of the job.).",
            "invalid_uri",
        )
    job = _live_job(job_id)
    if job is None:
        return api_error(404, "Job not found.", "inexistent_job")
    return job


@management_api(scopes=("read:users",), group="other")
def create_export(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return method_not_allowed()
    if request.content_type == "application/json":
        try:
            body = strict_json(request.body or b"{}")
        except ValueError:
            return api_error(400, "Invalid request payload JSON format", "invalid_body")
    else:
        body = _form_body(request)
    try:
        spec = _validated(body)
    except Invalid as problem:
        return _payload_error(problem.message)
    connection_name = ""
    if spec["connection_id"]:
        connection = Connection.objects.filter(id=spec["connection_id"]).first()
        if connection is None:
            return api_error(400, "The connection does not exist.", "inexistent_connection")
        connection_name = connection.name
    job = jobs.create(
        fmt=spec["format"],
        fields=spec["fields"],
        limit=spec["limit"],
        connection_id=spec["connection_id"],
        connection_name=connection_name,
        switches=sandbox_switches(request),
    )
    return json_response(job_json(job))


@management_api(scopes=("create:users", "read:users"), group="other")
def get_job(request: HttpRequest, job_id: str) -> HttpResponse:
    if request.method != "GET":
        return method_not_allowed()
    job = _job_or_error(job_id)
    if isinstance(job, JsonResponse):
        return job
    return json_response(job_json(job, request))


@management_api(scopes=("create:users", "read:users"), group="other")
def get_job_errors(request: HttpRequest, job_id: str) -> HttpResponse:
    if request.method != "GET":
        return method_not_allowed()
    job = _job_or_error(job_id)
    if isinstance(job, JsonResponse):
        return job
    if job.type == ExportJob.USERS_IMPORT:
        # Per-user errors; none (or a job that failed as a whole) is a 204, as the definition
        # says (https://auth0.com/docs/api/management/v2/jobs/get-errors) and a recorded failed
        # job shows.
        if job.status != ExportJob.COMPLETED or not job.import_errors:
            return HttpResponse(status=204, content_type=JSON_CONTENT_TYPE)
        return JsonResponse(
            job.import_errors,
            safe=False,
            content_type="application/json",
            json_dumps_params={"ensure_ascii": False, "separators": (",", ":")},
        )
    if job.status != ExportJob.FAILED:
        return HttpResponse(status=204, content_type=JSON_CONTENT_TYPE)
    body: dict[str, Any] = {
        "status": job.status,
        "type": job.type,
        "created_at": _iso(job.created_at),
        "id": job.id,
    }
    if job.connection_id:
        body["connection_id"] = job.connection_id
    body["status_details"] = job.status_details
    return json_response(body)


def _xml_denied(message: str, status: int = 403, code: str = "AccessDenied") -> HttpResponse:
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return HttpResponse(xml, status=status, content_type="text/xml")


def _cut_short(path: Path, limit: int) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        remaining = limit
        while remaining > 0:
            block = handle.read(min(65536, remaining))
            if not block:
                return
            remaining -= len(block)
            yield block


@csrf_exempt
@login_not_required
def download(request: HttpRequest, job_id: str, filename: str) -> HttpResponseBase:
    """The signed link of a completed job (CloudFront-like: 403 XML when expired or altered)."""
    if request.method not in ("GET", "HEAD"):
        return _xml_denied("Method not allowed", status=405, code="MethodNotAllowed")
    path = f"/exports/{job_id}/{filename}"
    try:
        expires = int(request.GET.get("Expires", ""))
    except ValueError:
        return _xml_denied("Missing Key-Pair-Id query parameter or cookie value")
    signature = request.GET.get("Signature", "")
    if not hmac.compare_digest(signature, _signature(path, expires)):
        return _xml_denied("Access denied")
    if expires <= faults.now().timestamp() or faults.take_link_lapse():
        return _xml_denied("Access denied: the link has expired")
    job = _live_job(job_id) if JOB_ID.match(job_id) else None
    file_path = job_dir(job_id) / filename
    if (
        job is None
        or job.status != ExportJob.COMPLETED
        or job.file_name != filename
        or not (file_path.is_file())
    ):
        return _xml_denied("The specified key does not exist.", status=404, code="NoSuchKey")
    cut = int(faults.current()["download_cut_bytes"])
    size = file_path.stat().st_size
    if cut and cut < size:
        response = StreamingHttpResponse(
            _cut_short(file_path, cut), content_type="application/gzip"
        )
        # The full length is promised, so the client notices the body ending early.
        response["Content-Length"] = str(size)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    return FileResponse(
        open(file_path, "rb"),
        as_attachment=True,
        filename=filename,
        content_type="application/gzip",
    )


def _flag(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.strip().lower() == "true"


def _multipart_error(message: str) -> JsonResponse:
    # Auth0 documents no errorCode for these and none was recorded: none is sent.
    return api_error(400, message)


@management_api(
    scopes=("create:users",),
    group="other",
    forbidden="Insufficient scope; expected any of: create:users.",
)
def create_import(request: HttpRequest) -> HttpResponse:
    """`POST /api/v2/jobs/users-imports`, checked in the order its definition lists the errors
    (https://auth0.com/docs/api/management/v2/jobs/post-users-imports): size, parts, connection
    id, connection, database strategy, import mode, then the two active jobs."""
    if request.method != "POST":
        # The definition has no other method here: the unrouted 404, not a job-id 400.
        return not_found(request)
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        length = 0
    if length > importing.MAX_PAYLOAD_BYTES:
        return api_error(
            413,
            f"Payload content length greater than maximum allowed: {importing.MAX_PAYLOAD_BYTES}.",
        )
    if request.content_type != "multipart/form-data":
        return _multipart_error("Payload validation error: 'Invalid multipart payload format'.")
    try:
        parts, files = request.POST, request.FILES
    except MultiPartParserError:
        return _multipart_error("Payload validation error: 'Invalid multipart payload format'.")
    upload = files.get("users")
    if upload is None:
        return _multipart_error("Must provide 'users' file as multipart part.")
    users = upload.read(importing.MAX_PAYLOAD_BYTES + 1)
    if len(users) > importing.MAX_PAYLOAD_BYTES:
        # A chunked request has no Content-Length: its file is measured instead.
        return api_error(
            413,
            f"Payload content length greater than maximum allowed: {importing.MAX_PAYLOAD_BYTES}.",
        )
    if not users:
        return _multipart_error("Users file must not be empty.")
    connection_id = parts.get("connection_id")
    if connection_id is None:
        return _multipart_error("Must provide 'connection_id' as multipart part.")
    if not CONNECTION_ID.match(connection_id):
        return _payload_error(
            "'String does not match pattern ^con_[A-Za-z0-9]{16}$' on property connection_id."
        )
    connection = Connection.objects.filter(id=connection_id).first()
    if connection is None:
        return _multipart_error("The connection does not exist.")
    refused = importing.check_connection(connection)
    if refused is not None:
        return api_error(400, *refused)
    if importing.active_imports() >= importing.MAX_ACTIVE_IMPORTS:
        return api_error(
            429,
            f"There are {importing.MAX_ACTIVE_IMPORTS} active import users jobs, please wait "
            "until some of them are finished and try again",
        )
    job = jobs.create_import(
        users=users,
        connection_id=connection.id,
        connection_name=connection.name,
        upsert=_flag(parts.get("upsert"), False),
        external_id=parts.get("external_id") or "",
        send_completion_email=_flag(parts.get("send_completion_email"), True),
        switches=sandbox_switches(request),
    )
    return json_response(job_json(job), status=202)
