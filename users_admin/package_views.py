"""The data-subject package's pages: ask for one (a typed reason, idempotent), follow it, and
download it once (users_admin.packages builds it)."""

from __future__ import annotations

import uuid
from typing import cast

from django import forms
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseStopPolling

from config.htmx import wants_partial
from exports.storage import exports_storage
from staff.audit import record
from staff.permissions import Capability, may_take_data_package, requires

from .packages import build_data_package, delete_file
from .pii_models import DataPackage, PackageStatus

REQUESTED = "users.data_package_requested"
DOWNLOADED = "users.data_package_downloaded"
REFUSED = "users.data_package_refused"
SETTLED = {PackageStatus.READY, PackageStatus.FAILED, PackageStatus.DOWNLOADED}


class PackageForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        min_length=5,
        max_length=500,
        help_text="The user's request: its ticket or case, e.g. “DSAR-2031: access request”.",
        error_messages={"required": "Type the reason for this package."},
        widget=forms.TextInput(attrs={"autocomplete": "off", "autofocus": True}),
    )
    token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("initial", {"token": uuid.uuid4()})
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


@requires(Capability.BUILD_DATA_PACKAGES)
def new_package(request: HttpRequest, user_id: str) -> HttpResponse:
    form = PackageForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        token, reason = form.cleaned_data["token"], form.cleaned_data["reason"].strip()
        package = DataPackage.objects.filter(token=token).first()
        if package is None:
            try:
                with transaction.atomic():
                    package = DataPackage.objects.create(
                        token=token,
                        user_id=user_id,
                        requested_by_id=cast(int, request.user.pk),
                        requested_by_label=request.user.get_username(),
                        reason=reason,
                    )
                    record(request, REQUESTED, target=user_id, reason=reason, package=package.pk)
                    build_data_package.delay_on_commit(package.pk)
            except IntegrityError:  # the same form twice at once: the first one stands
                package = DataPackage.objects.get(token=token)
        if package.user_id != user_id or not may_take_data_package(request.user, package):
            raise PermissionDenied("This form was sent for another package.")
        return redirect("users_admin:data_package", package.pk)
    return render(
        request,
        "users_admin/data_package_new.html",
        {"user_id": user_id, "form": form},
        status=400 if form.is_bound else 200,
    )


def _own(request: HttpRequest, pk: int) -> DataPackage:
    package = DataPackage.objects.filter(pk=pk, tenant=_tenant()).first()
    if package is None:
        raise Http404("No such data package.")
    if not may_take_data_package(request.user, package):
        raise PermissionDenied("A data package is seen by the staff member who asked for it.")
    return package


def _tenant() -> str:
    from management_api.tenants import current_tenant_slug

    return current_tenant_slug()


@requires(Capability.BUILD_DATA_PACKAGES)
def package_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Where the package stands; the status block polls until it settles."""
    package = _own(request, pk)
    partial = wants_partial(request)
    template = "users_admin/data_package.html" + ("#status" if partial else "")
    response = render(request, template, {"package": package})
    if partial and package.status in SETTLED:
        return HttpResponseStopPolling(response.content)
    return response


@requires(Capability.BUILD_DATA_PACKAGES)
@require_POST
def download_package(request: HttpRequest, pk: int) -> HttpResponse:
    """The one download: claimed atomically, the file read and deleted, audited; any later
    attempt (or one after expiry) is refused with why, and audited too."""
    package = _own(request, pk)
    now = timezone.now()
    claimed = DataPackage.objects.filter(
        pk=pk, status=PackageStatus.READY, expires_at__gt=now
    ).update(status=PackageStatus.DOWNLOADED, downloaded_at=now)
    if not claimed:
        package.refresh_from_db()
        if package.status == PackageStatus.READY:  # past its expiry: deleted now
            if DataPackage.objects.filter(pk=pk, status=PackageStatus.READY).update(
                status=PackageStatus.EXPIRED
            ):
                delete_file(package)
            package.refresh_from_db()
        record(request, REFUSED, target=package.user_id, package=pk, status=package.status)
        return render(
            request,
            "users_admin/data_package.html",
            {"package": package, "refused": True},
            status=410,
        )
    with exports_storage().open(package.file_name, "rb") as stored:
        data = stored.read()
    delete_file(package)
    record(
        request,
        DOWNLOADED,
        target=package.user_id,
        package=pk,
        sha256=package.sha256,
        size=len(data),
    )
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="data-package-{pk}.zip"'
    return response
