from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader

from management_api.tenants import all_tenants, current_tenant_slug

from . import audit, oidc
from .audit import filtered_events
from .forms import AuditFilterForm, SignInForm
from .models import AuditEvent
from .permissions import (
    Capability,
    can,
    may_read_whole_audit_log,
    require_audit_about,
    tenants_for,
)

AUDIT_PAGE_SIZE = 50
log = logging.getLogger(__name__)


class SignInView(auth_views.LoginView):
    """The sign-in page: "Sign in with <provider>" first when OIDC is configured, then passwords."""

    authentication_form = SignInForm
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        user = form.get_user()
        audit.record_for(self.request, user, audit.SIGN_IN, user.get_username(), method="password")
        return response

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["oidc_provider"] = oidc.provider_name() if oidc.enabled() else ""
        context["password_sign_in"] = settings.PASSWORD_SIGN_IN
        return context


class PasswordChangeView(auth_views.PasswordChangeView):
    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        response = super().form_valid(form)
        audit.record(self.request, audit.PASSWORD_CHANGED, target=self.request.user.get_username())
        return response


def audit_log(request: HttpRequest) -> HttpResponse:
    """The audit log, filtered; a member who may not read it whole reads the events about one
    user (`?user=`, the user page's "Who looked at this user") on this tenant. Each read is
    itself an event (AUDIT_READ), with the filters it used."""
    about = str(request.GET.get("user", "")).strip()
    require_audit_about(request.user, about)
    whole = may_read_whole_audit_log(request.user)
    visible = tenants_for(request.user)
    form = AuditFilterForm(request.GET, tenants=visible, only_user="" if whole else about)
    if form.is_valid():
        filters = {name: form.cleaned_data[name] for name in form.fields}
        if not whole:
            filters["tenant"] = current_tenant_slug()
        events = filtered_events(**filters, visible_tenants=[t.slug for t in visible])
    else:
        filters, events = {}, AuditEvent.objects.none()
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    if not can(request.user, Capability.SEE_PERSONAL_DATA):
        from users_admin.pii import mask  # the user pages' masking, on what events recorded

        for event in page.object_list:
            event.details = mask(event.details)  # shown, never saved (events are append-only)
    asked = {f"filter_{k}": str(v) for k, v in filters.items() if v and k != "user"}
    response = render(
        request,
        "staff/audit_log.html",
        {
            "form": form,
            "page": page,
            "filtered": any(v for k, v in filters.items() if whole or k not in ("user", "tenant")),
            "whole": whole,
            "about": about,
            "several_tenants": whole and len(all_tenants()) > 1,
        },
    )
    # After the page is read: it lists the reads before this one.
    audit.record(request, audit.AUDIT_READ, target=about, page=page.number, **asked)
    return response


def csrf_refused(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a refused form is a refused attempt like any other 403."""
    return permission_denied(
        request,
        PermissionDenied(
            "The form was not accepted: it was too old or sent from another page "
            f"({reason}). Reload the page and try again."
        ),
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The 403 page; a signed-in member's refused attempt is an audit event with what was
    tried: the method and whole URL, the fields a POST carried (names only), why refused."""
    reason = str(exception) if isinstance(exception, PermissionDenied) else ""
    if getattr(request, "user", None) is not None and request.user.is_authenticated:
        try:
            posted = sorted(name for name in request.POST if name != "csrfmiddlewaretoken")
        except (ValueError, SuspiciousOperation):  # a body Django refuses to parse
            posted = ["(unreadable)"]
        match = request.resolver_match
        audit.record(
            request,
            audit.ACCESS_REFUSED,
            target=request.get_full_path(),
            method=request.method or "",
            page=match.view_name if match else "",
            posted_fields=posted if request.method == "POST" else [],
            reason=reason,
        )
    response = render(request, "403.html", {"reason": reason}, status=403)
    if request.headers.get("HX-Request") == "true":
        # An htmx request (an action's form, a search) is told in the page, which shows the
        # 403 page's main part in place of its own (base.html's htmx-config swaps a 403).
        response["HX-Retarget"] = "#main"
        response["HX-Reselect"] = "#main"
        response["HX-Reswap"] = "outerHTML"
    return response


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


# For when 500.html itself cannot render: before `collectstatic`, `{% static %}` raises on the
# missing manifest. No stylesheet, no inline style (the CSP refuses it), nothing that can fail.
PLAIN_500 = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Server error · Userdesk</title></head>
<body><main><h1>Something went wrong on our side</h1>
<p>The error has been logged. Try again in a moment; if it keeps happening, tell whoever runs
Userdesk.</p><p><a href="/">Go to the start page</a></p></main></body></html>
"""


def server_error(request: HttpRequest) -> HttpResponse:
    # No request context: the error may come from the session, the database or a context processor.
    try:
        html = loader.get_template("500.html").render({})
    except Exception:
        log.exception("The 500 page could not be rendered; answering the plain one")
        html = PLAIN_500
    return HttpResponseServerError(html)
