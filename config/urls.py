from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from config import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("", include("staff.urls")),
    path("", include("users_admin.urls")),
    path("exports/", include("exports.urls")),
    path("django-admin/", admin.site.urls),
]

handler403 = "staff.views.permission_denied"
handler404 = "staff.views.page_not_found"
handler500 = "staff.views.server_error"
