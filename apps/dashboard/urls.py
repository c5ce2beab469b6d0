from django.urls import path

from apps.dashboard import views

urlpatterns = [path("", views.overview, name="dashboard")]
