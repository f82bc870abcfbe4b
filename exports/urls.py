from __future__ import annotations

from django.urls import path

from . import views

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
]
