from rest_framework.routers import SimpleRouter

from apps.webhooks.api import views

router = SimpleRouter()
router.register("webhook-deliveries", views.WebhookDeliveryViewSet, basename="webhook-delivery")

urlpatterns = router.urls
