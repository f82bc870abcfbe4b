from __future__ import annotations

from django.urls import path, register_converter

from . import access_views, bulk_views, create, linking_views, package_views, reveal, views
from .converters import UserIdConverter

register_converter(UserIdConverter, "user_id")

app_name = "users_admin"
urlpatterns = [
    path("users/", views.search, name="search"),
    path("searches/save/", views.save_search, name="save_search"),
    path("searches/<int:pk>/delete/", views.delete_saved_search, name="delete_saved_search"),
    path("users/<user_id:user_id>/", views.detail, name="detail"),
    path("users/<user_id:user_id>/duplicates/", linking_views.duplicates_view, name="duplicates"),
    path("users/<user_id:user_id>/reveal/", reveal.reveal, name="reveal"),
    path(
        "users/<user_id:user_id>/data-package/",
        package_views.new_package,
        name="new_data_package",
    ),
    path("data-packages/<int:pk>/", package_views.package_page, name="data_package"),
    path(
        "data-packages/<int:pk>/download/",
        package_views.download_package,
        name="download_data_package",
    ),
    path("users/<user_id:user_id>/access/<slug:panel>/", access_views.access_panel, name="access"),
    path("lookup/", views.lookup, name="lookup"),
    path("new-user/", create.create_user_view, name="create_user"),
    # A user id is one segment, encoded whole (converters.py): `/` and `..` can't escape it.
    path("actions/<slug:name>/<user_id:user_id>/", views.user_action, name="action"),
    path("timeline/<user_id:user_id>/", views.user_timeline, name="timeline"),
    path("bulk/", bulk_views.bulk_runs, name="bulk_runs"),
    path("bulk/new/", bulk_views.new_bulk_run, name="new_bulk_run"),
    path("bulk/<int:pk>/", bulk_views.bulk_run, name="bulk_run"),
    path("bulk/<int:pk>/action/", bulk_views.bulk_action, name="bulk_action"),
    path("bulk/<int:pk>/request/", bulk_views.bulk_request, name="bulk_request"),
    path("bulk/<int:pk>/approve/", bulk_views.bulk_approve, name="bulk_approve"),
    path("bulk/<int:pk>/reject/", bulk_views.bulk_reject, name="bulk_reject"),
    *(
        path(f"bulk/<int:pk>/{verb}/", bulk_views.bulk_control, {"verb": verb}, name=f"bulk_{verb}")
        for verb in ("pause", "resume", "cancel")
    ),
    path("bulk/<int:pk>/results.csv", bulk_views.bulk_results, name="bulk_results"),
    path("bulk/<int:pk>/retry/", bulk_views.bulk_retry, name="bulk_retry"),
    path("bulk/<int:pk>/undo/", bulk_views.bulk_undo, name="bulk_undo"),
    path("verification-jobs/<str:job_id>/", views.verification_job, name="verification_job"),
]
