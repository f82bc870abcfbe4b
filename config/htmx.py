"""What a staff page's view knows of its request, and the one answer to "does htmx want a part
of the page or the whole page?"."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class StaffRequest(HttpRequest):
    """Every staff page runs behind sign-in (LoginRequiredMiddleware) and HtmxMiddleware."""

    user: User
    htmx: HtmxDetails


def wants_partial(request: HttpRequest) -> bool:
    """Whether htmx asked for a part of the page to swap in (a poll, a panel, a search's
    results) rather than the whole page. A history restore (Back, once htmx's snapshot of the
    page was evicted) is an htmx request too, and it needs the whole page."""
    htmx: HtmxDetails | None = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.history_restore_request
