from rest_framework.routers import SimpleRouter

from apps.syncs.api import views

router = SimpleRouter()
router.register("syncs", views.SyncViewSet, basename="sync")
router.register("conflicts", views.ConflictViewSet, basename="conflict")

urlpatterns = router.urls
