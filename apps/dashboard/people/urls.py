"""The people table page: one person on two systems, for references email cannot match."""

from django.urls import path

from apps.dashboard.people import views

app_name = "people"
urlpatterns = [
    path("", views.people_list, name="list"),
    path("<uuid:public_id>/delete/", views.person_delete, name="delete"),
]
