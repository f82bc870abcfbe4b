from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from staff.permissions import Capability, requires


@requires(Capability.SEARCH_USERS)
def search(request: HttpRequest) -> HttpResponse:
    return render(request, "users_admin/search.html")
