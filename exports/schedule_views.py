"""The schedule pages (/t/<slug>/exports/schedules/...): the list, a new schedule, a schedule
with its runs, pausing or resuming it and deleting it. Every change is audited."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from config.htmx import StaffRequest
from staff import audit
from staff.permissions import Capability, requires
from users_admin.bulk_views import nav
from users_admin.models import SavedSearch

from . import scheduling
from .models import ExportTemplate
from .schedule_forms import ScheduleForm
from .schedule_models import ExportSchedule
from .views import HISTORY_PAGE_SIZE


def _described(schedule: ExportSchedule) -> dict[str, Any]:
    """What the audit log keeps of a schedule (before and after a change)."""
    return {
        "name": schedule.name,
        "source": schedule.source_label,
        "scope": schedule.scope,
        "when": schedule.when,
        "owner": schedule.owner.get_username(),
        "paused": schedule.paused,
        "next_run_at": schedule.next_run_at.isoformat() if schedule.next_run_at else None,
    }


def _storage_note() -> str:
    """Where each run's file goes besides the history: the exports bucket's prefix, if any."""
    if not settings.EXPORT_S3_BUCKET:
        return ""
    prefix = settings.STORAGES["exports"]["OPTIONS"].get("location") or ""
    return f"s3://{settings.EXPORT_S3_BUCKET}/{prefix}".rstrip("/") + "/"


def _schedule(request: StaffRequest, pk: int) -> ExportSchedule:
    return get_object_or_404(
        ExportSchedule.objects.of_tenant(request.user).select_related("owner"), pk=pk
    )


@requires(Capability.SCHEDULE_EXPORTS)
def schedules(request: StaffRequest) -> HttpResponse:
    listed = ExportSchedule.objects.of_tenant(request.user).select_related("owner")
    page = Paginator(listed, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request, "exports/schedules/list.html", {"page": page, "nav": nav(request, page, "page")}
    )


@requires(Capability.SCHEDULE_EXPORTS)
def new_schedule(request: StaffRequest) -> HttpResponse:
    form = ScheduleForm(
        request.POST if request.method == "POST" else None,
        templates=list(ExportTemplate.objects.of(request.user)),
        searches=list(SavedSearch.objects.visible_to(request.user)),
    )
    if request.method == "POST" and form.is_valid():
        schedule = form.schedule(request.user)
        schedule.next_run_at = schedule.next_after(timezone.now())
        schedule.save()
        audit.record(
            request,
            audit.SCHEDULE_CREATED,
            target=f"schedule #{schedule.pk}",
            after=_described(schedule),
        )
        messages.success(request, f"Schedule “{schedule.name}” saved: {schedule.when}.")
        return redirect(schedule)
    return render(request, "exports/schedules/new.html", {"form": form})


@requires(Capability.SCHEDULE_EXPORTS)
def schedule_detail(request: StaffRequest, pk: int) -> HttpResponse:
    schedule = _schedule(request, pk)
    runs = schedule.runs.select_related("export")
    page = Paginator(runs, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "exports/schedules/detail.html",
        {
            "schedule": schedule,
            "page": page,
            "nav": nav(request, page, "page"),
            "next_window": scheduling.window_start(schedule),
            "overlap_minutes": settings.EXPORT_SCHEDULE_OVERLAP_MINUTES,
            "storage_note": _storage_note(),
            "retention_days": settings.EXPORT_RETENTION_DAYS,
        },
    )


@require_POST
@requires(Capability.SCHEDULE_EXPORTS)
def pause_schedule(request: StaffRequest, pk: int) -> HttpResponse:
    """Pause, or resume (``resume=1``): posting the same form twice changes nothing more."""
    schedule = _schedule(request, pk)
    resume = request.POST.get("resume") == "1"
    if schedule.paused != resume:
        messages.info(
            request, f"Schedule “{schedule.name}” was already {'running' if resume else 'paused'}."
        )
        return redirect(schedule)
    before = _described(schedule)
    schedule.paused = not resume
    # Resumed: the next occurrence from now (the missed ones are not made up).
    schedule.next_run_at = schedule.next_after(timezone.now()) if resume else None
    schedule.save(update_fields=["paused", "next_run_at"])
    audit.record(
        request,
        audit.SCHEDULE_RESUMED if resume else audit.SCHEDULE_PAUSED,
        target=f"schedule #{schedule.pk}",
        before=before,
        after=_described(schedule),
    )
    if resume:
        messages.success(request, f"Schedule “{schedule.name}” resumed.")
    else:
        messages.success(
            request, f"Schedule “{schedule.name}” paused: it will not run until resumed."
        )
    return redirect(schedule)


@requires(Capability.SCHEDULE_EXPORTS)
def delete_schedule(request: StaffRequest, pk: int) -> HttpResponse:
    schedule = _schedule(request, pk)
    if request.method != "POST":
        return render(request, "exports/schedules/delete.html", {"schedule": schedule})
    before = _described(schedule)
    schedule.delete()
    audit.record(request, audit.SCHEDULE_DELETED, target=f"schedule #{pk}", before=before)
    messages.success(
        request, f"Schedule “{before['name']}” deleted. Its exports stay in the history."
    )
    return redirect("exports:schedules")
