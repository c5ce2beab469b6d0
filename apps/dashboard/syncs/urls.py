"""The syncs pages: the list, the sync builder (sides, fields, scope and rules, review) and
a saved sync's review (preview, enable, disable)."""

from django.urls import path

from apps.dashboard.syncs import views

app_name = "syncs"
urlpatterns = [
    path("", views.sync_list, name="list"),
    path("new/", views.sync_new, name="new"),
    path("build/<str:draft_id>/save/", views.sync_save, name="save"),
    path("build/<str:draft_id>/<str:step>/", views.sync_build, name="build"),
    path("<uuid:public_id>/edit/", views.sync_edit, name="edit"),
    path("<uuid:public_id>/review/", views.sync_review, name="review"),
    path("<uuid:public_id>/enable/", views.sync_enable, name="enable"),
    path("<uuid:public_id>/disable/", views.sync_disable, name="disable"),
]
