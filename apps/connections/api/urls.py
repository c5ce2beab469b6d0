from rest_framework.routers import SimpleRouter

from apps.connections.api import views

router = SimpleRouter()
router.register("connections", views.ConnectionViewSet, basename="connection")
router.register("connector-kinds", views.ConnectorKindViewSet, basename="connector-kind")

urlpatterns = router.urls
