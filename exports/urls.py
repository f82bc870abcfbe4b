from __future__ import annotations

from django.urls import path

from . import views

app_name = "exports"
urlpatterns = [
    path("", views.history, name="history"),
]
