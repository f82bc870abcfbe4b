from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from staff.permissions import Capability, requires


@requires(Capability.RUN_EXPORTS)
def history(request: HttpRequest) -> HttpResponse:
    return render(request, "exports/history.html")
