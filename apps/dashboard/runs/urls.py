"""The run log and a record's history across runs."""

from django.urls import path

from apps.dashboard.runs import views

app_name = "runs"
urlpatterns = [
    path("<uuid:public_id>/", views.run_detail, name="detail"),
    path("<uuid:public_id>/retry/", views.run_retry, name="retry"),
    path(
        # `path`: ids may hold a slash (GitHub's "owner/repo#12").
        "records/<uuid:sync_public_id>/<str:side>/<path:record_id>/",
        views.record_history,
        name="record",
    ),
]
