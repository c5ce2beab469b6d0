from django.urls import path

from apps.dashboard.previews import views

app_name = "previews"
urlpatterns = [
    path("start/<uuid:sync_id>/", views.preview_start, name="start"),
    path("<uuid:preview_id>/", views.preview_status, name="status"),
]
