from django.urls import include, path

urlpatterns = [
    path("", include("apps.dashboard.overview.urls")),
    path("connections/", include("apps.dashboard.connections.urls")),
    path("syncs/", include("apps.dashboard.syncs.urls")),
    path("previews/", include("apps.dashboard.previews.urls")),
    path("runs/", include("apps.dashboard.runs.urls")),
    path("conflicts/", include("apps.dashboard.conflicts.urls")),
    path("people/", include("apps.dashboard.people.urls")),
]
