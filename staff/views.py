from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader

from management_api.tenants import all_tenants

from . import audit, oidc
from .audit import filtered_events
from .forms import AuditFilterForm, SignInForm
from .models import AuditEvent
from .permissions import Capability, requires, tenants_for

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


@requires(Capability.VIEW_AUDIT_LOG)
def audit_log(request: HttpRequest) -> HttpResponse:
    visible = tenants_for(request.user)
    form = AuditFilterForm(request.GET, tenants=visible)
    if form.is_valid():
        filters = {name: form.cleaned_data[name] for name in form.fields}
        events = filtered_events(**filters, visible_tenants=[t.slug for t in visible])
    else:
        filters, events = {}, AuditEvent.objects.none()
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "staff/audit_log.html",
        {
            "form": form,
            "page": page,
            "filtered": any(filters.values()),
            "several_tenants": len(all_tenants()) > 1,
        },
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    reason = str(exception) if isinstance(exception, PermissionDenied) else ""
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
