"""Staff sessions: signed out after SESSION_IDLE_MINUTES without a request, and pages that may use
none of the browser's powerful features (camera, microphone, location ...)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

# When the session last served a request (epoch seconds).
LAST_SEEN = "userdesk_last_seen"
# Written at most this often, so a burst of requests does not rewrite the session each time.
LAST_SEEN_RESOLUTION_SECONDS = 30
# Sent by a page's own polling (htmx `every 2s` on a running export, bulk run or email job): such
# requests show nobody is there, so they do not keep an idle session open.
POLL_HEADER = "X-Userdesk-Poll"

# Everything off but the copy buttons' clipboard (same origin); the header's full syntax:
# https://www.w3.org/TR/permissions-policy/. Only features browsers know: Chromium logs a
# warning on every page for one it does not (Web Bluetooth is not policy-controlled there).
PERMISSIONS_POLICY = ", ".join(
    [
        "accelerometer=()",
        "autoplay=()",
        "browsing-topics=()",
        "camera=()",
        "clipboard-read=()",
        "clipboard-write=(self)",
        "display-capture=()",
        "encrypted-media=()",
        "fullscreen=()",
        "geolocation=()",
        "gyroscope=()",
        "hid=()",
        "magnetometer=()",
        "microphone=()",
        "midi=()",
        "payment=()",
        "publickey-credentials-get=()",
        "screen-wake-lock=()",
        "serial=()",
        "usb=()",
        "xr-spatial-tracking=()",
    ]
)


class IdleTimeoutMiddleware:
    """Signs out a staff member whose session served no request for SESSION_IDLE_MINUTES (an
    `auth.sign_out` event saying so); the next page asks them to sign in again, and brings them
    back where they were. SESSION_COOKIE_AGE still ends every session, active or not."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = time.time()
            last_seen = request.session.get(LAST_SEEN)
            idle_minutes = settings.SESSION_IDLE_MINUTES
            if isinstance(last_seen, int | float) and now - last_seen > idle_minutes * 60:
                return self._signed_out(request, idle_minutes)
            if not isinstance(last_seen, int | float):
                # The session's first request: it ends SESSION_COOKIE_AGE from now whatever
                # happens, rather than that long after its last change (each LAST_SEEN is one).
                request.session.set_expiry(timedelta(seconds=settings.SESSION_COOKIE_AGE))
                request.session[LAST_SEEN] = now
            elif now - last_seen >= LAST_SEEN_RESOLUTION_SECONDS and not _polled(request):
                request.session[LAST_SEEN] = now
        return self.get_response(request)

    def _signed_out(self, request: HttpRequest, idle_minutes: int) -> HttpResponse:
        request.signed_out_idle_minutes = idle_minutes  # type: ignore[attr-defined]
        logout(request)
        messages.info(
            request,
            f"You were signed out after {idle_minutes} minutes without activity. Sign in again.",
        )
        if request.headers.get("HX-Request"):
            return HttpResponseClientRedirect(reverse("login"))
        return redirect_to_login(request.get_full_path(), login_url=reverse("login"))


def _polled(request: HttpRequest) -> bool:
    return request.headers.get(POLL_HEADER) == "true"


class PermissionsPolicyMiddleware:
    """Sends PERMISSIONS_POLICY with every answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response
