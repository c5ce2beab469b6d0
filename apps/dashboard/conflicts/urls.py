"""The conflict review screen: the queue, one conflict, decisions."""

from django.urls import path

from apps.dashboard.conflicts import views

app_name = "conflicts"
urlpatterns = [
    path("", views.conflict_list, name="list"),
    path("decide/", views.conflicts_decide_many, name="decide-many"),
    path("<uuid:public_id>/", views.conflict_detail, name="detail"),
    path("<uuid:public_id>/decide/", views.conflict_decide_one, name="decide"),
]
