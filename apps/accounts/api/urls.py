from django.urls import path

from apps.accounts.api import views

urlpatterns = [
    path("me/", views.me, name="me"),
]
