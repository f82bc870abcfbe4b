from __future__ import annotations

from django.http import HttpRequest

from .permissions import Capability, can


def capabilities(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None:
        return {"can": {}}
    # can() per capability reads the user's capability set, worked out once per request.
    return {"can": {cap.value: can(user, cap) for cap in Capability}}
