from __future__ import annotations

from django.urls import path

from . import import_views, schedule_views, views

app_name = "exports"
urlpatterns = [
    path("", views.history, name="history"),
    path("new/", views.new, name="new"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/download/<slug:variant>/", views.download, name="download"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("<int:pk>/cancel/", views.cancel, name="cancel"),
    path("<int:pk>/rename/", views.rename, name="rename"),
    path("<int:pk>/derive/", views.derive_export, name="derive"),
    path("<int:pk>/save-template/", views.save_template, name="save_template"),
    path("templates/<int:pk>/delete/", views.delete_template, name="delete_template"),
    path("schedules/", schedule_views.schedules, name="schedules"),
    path("schedules/new/", schedule_views.new_schedule, name="schedule_new"),
    path("schedules/<int:pk>/", schedule_views.schedule_detail, name="schedule"),
    path("schedules/<int:pk>/pause/", schedule_views.pause_schedule, name="schedule_pause"),
    path("schedules/<int:pk>/delete/", schedule_views.delete_schedule, name="schedule_delete"),
    path("imports/", import_views.history, name="imports"),
    path("imports/new/", import_views.new, name="import_new"),
    path("imports/<int:pk>/", import_views.detail, name="import_detail"),
    path("imports/<int:pk>/start/", import_views.start, name="import_start"),
    path("imports/<int:pk>/errors/<slug:kind>/", import_views.errors, name="import_errors"),
]
