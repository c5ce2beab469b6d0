from django.urls import path

from apps.dashboard.connections import views

app_name = "connections"
urlpatterns = [path("", views.connection_list, name="list")]
