from django.urls import path

from apps.dashboard.syncs import views

app_name = "syncs"
urlpatterns = [path("", views.sync_list, name="list")]
