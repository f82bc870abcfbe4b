from __future__ import annotations

from django.urls import path

from . import views

app_name = "users_admin"
urlpatterns = [
    path("users/", views.search, name="search"),
    path("searches/save/", views.save_search, name="save_search"),
    path("searches/<int:pk>/delete/", views.delete_saved_search, name="delete_saved_search"),
    path("users/<path:user_id>/", views.detail, name="detail"),
    path("lookup/", views.lookup, name="lookup"),
]
