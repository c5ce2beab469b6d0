from django.urls import path
from rest_framework.routers import SimpleRouter

from apps.accounts.api import views

router = SimpleRouter()
router.register("members", views.MemberViewSet, basename="member")
router.register("tokens", views.TokenViewSet, basename="token")

urlpatterns = [
    path("me/", views.me, name="me"),
    *router.urls,
]
