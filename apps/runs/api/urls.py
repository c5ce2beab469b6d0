from rest_framework.routers import SimpleRouter

from apps.runs.api import views

router = SimpleRouter()
router.register("runs", views.RunViewSet, basename="run")
# The run actions of a sync live here (runs depend on syncs); under /syncs/{id}/ all the same.
router.register("syncs", views.SyncRunActionsViewSet, basename="sync")

urlpatterns = router.urls
