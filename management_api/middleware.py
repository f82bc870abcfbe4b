"""The upstream policy of a web request, whichever app's view answers it."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from .http import budget


class OneDeadlinePerRequest:
    """Every Management API call one request makes shares one deadline,
    AUTH0_DEADLINE_SECONDS: a page that makes several calls (a search and its connections, the
    export builder's connections and metadata sample, a lookup across tenants) still answers in
    time, the later calls getting what the earlier left. Calls made outside a request (Celery
    tasks) each get their own deadline."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with budget():
            return self.get_response(request)
