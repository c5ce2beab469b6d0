from django.urls import include, path

from apps.dashboard import views

urlpatterns = [
    path("", views.overview, name="dashboard"),
    path("connections/", include("apps.dashboard.connections.urls")),
    path("syncs/", include("apps.dashboard.syncs.urls")),
    path("previews/", include("apps.dashboard.previews.urls")),
    path("runs/", include("apps.dashboard.runs.urls")),
]
