"""The syncs pages: the list, the sync builder (sides, fields, scope and rules, review) and
a saved sync's review (preview, enable, disable) and its own page (runs, live progress and
the controls that start, pause and decide runs)."""

from django.urls import path

from apps.dashboard.syncs import detail, views

app_name = "syncs"
urlpatterns = [
    path("", views.sync_list, name="list"),
    path("new/", views.sync_new, name="new"),
    path("build/<str:draft_id>/save/", views.sync_save, name="save"),
    path("build/<str:draft_id>/<str:step>/", views.sync_build, name="build"),
    path("<uuid:public_id>/", detail.sync_detail, name="detail"),
    path("<uuid:public_id>/live/", detail.sync_live, name="live"),
    path("<uuid:public_id>/run/", detail.sync_run, name="run"),
    path("<uuid:public_id>/pause/", detail.sync_pause, name="pause"),
    path("<uuid:public_id>/resume/", detail.sync_resume, name="resume"),
    path("<uuid:public_id>/held-run/approve/", detail.held_approve, name="held-approve"),
    path("<uuid:public_id>/held-run/cancel/", detail.held_cancel, name="held-cancel"),
    path("<uuid:public_id>/runs/<uuid:run_id>/cancel/", detail.run_cancel, name="run-cancel"),
    path("<uuid:public_id>/edit/", views.sync_edit, name="edit"),
    path("<uuid:public_id>/review/", views.sync_review, name="review"),
    path("<uuid:public_id>/enable/", views.sync_enable, name="enable"),
    path("<uuid:public_id>/disable/", views.sync_disable, name="disable"),
]
