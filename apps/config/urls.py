from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.core import health
from apps.core.api import api_not_found

api_v1 = [
    path("", include("apps.accounts.api.urls")),
    path("", include("apps.connections.api.urls")),
    path("", include("apps.syncs.api.urls")),
    path("", include("apps.runs.api.urls")),
    path("", include("apps.webhooks.api.urls")),
    # Keep last: any other path under /api/v1/ is a 404 in the API's error shape (any: "."
    # would not match a newline, and such a path got Django's HTML page).
    re_path(r"^(?P<path>[\s\S]*)$", api_not_found, name="not-found"),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("accounts/", include("apps.accounts.urls")),
    path("hooks/", include("apps.webhooks.urls")),
    path("", include("apps.dashboard.urls")),
]
