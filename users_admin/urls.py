from __future__ import annotations

from django.urls import path, register_converter

from . import views
from .converters import UserIdConverter

register_converter(UserIdConverter, "user_id")

app_name = "users_admin"
urlpatterns = [
    path("users/", views.search, name="search"),
    path("searches/save/", views.save_search, name="save_search"),
    path("searches/<int:pk>/delete/", views.delete_saved_search, name="delete_saved_search"),
    path("users/<user_id:user_id>/", views.detail, name="detail"),
    path("lookup/", views.lookup, name="lookup"),
    # A user id is one segment, encoded whole (converters.py): `/` and `..` can't escape it.
    path("actions/<slug:name>/<user_id:user_id>/", views.user_action, name="action"),
    path("timeline/<user_id:user_id>/", views.user_timeline, name="timeline"),
    path("verification-jobs/<str:job_id>/", views.verification_job, name="verification_job"),
]
