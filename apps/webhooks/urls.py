from django.urls import path

from apps.webhooks import views

app_name = "webhooks"
urlpatterns = [path("<uuid:public_id>/", views.receive, name="receive")]
