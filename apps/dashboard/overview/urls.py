"""The overview at / (named `dashboard`, where a login lands) and its polled health part."""

from django.urls import path

from apps.dashboard.overview import views

urlpatterns = [
    path("", views.overview, name="dashboard"),
    path("overview/health/", views.overview_health, name="overview-health"),
]
