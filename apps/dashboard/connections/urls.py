"""The connections pages: the list with health and webhook status, adding, testing,
editing and deleting a connection."""

from django.urls import path

from apps.dashboard.connections import views

app_name = "connections"
urlpatterns = [
    path("", views.connection_list, name="list"),
    path("add/", views.connection_add, name="add"),
    path("add/<slug:kind>/", views.connection_create, name="create"),
    path("add/<slug:kind>/check/", views.connection_create_check, name="create-check"),
    path("<uuid:public_id>/", views.connection_detail, name="detail"),
    path("<uuid:public_id>/check/", views.connection_check, name="check"),
    path("<uuid:public_id>/edit/", views.connection_edit, name="edit"),
    path("<uuid:public_id>/edit/check/", views.connection_edit_check, name="edit-check"),
    path(
        "<uuid:public_id>/webhook-secret/",
        views.connection_webhook_secret_rotate,
        name="webhook-secret",
    ),
    path("<uuid:public_id>/test-event/", views.connection_test_event, name="test-event"),
    path(
        "<uuid:public_id>/webhook-status/", views.connection_webhook_status, name="webhook-status"
    ),
    path("<uuid:public_id>/delete/", views.connection_delete, name="delete"),
]
