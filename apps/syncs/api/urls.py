from rest_framework.routers import SimpleRouter

from apps.syncs.api import views

router = SimpleRouter()
router.register("syncs", views.SyncViewSet, basename="sync")
router.register("conflicts", views.ConflictViewSet, basename="conflict")
router.register("previews", views.PreviewViewSet, basename="preview")
router.register("people", views.PersonMappingViewSet, basename="person")

urlpatterns = router.urls
