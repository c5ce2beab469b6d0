"""The API documentation page (/api/docs/) works on an instance without internet access:
Swagger UI comes from this instance's own static files (drf-spectacular-sidecar), never a
CDN."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db

ASSETS = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


def test_the_docs_page_references_only_local_urls(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    urls = ASSETS.findall(html)
    assert urls, "the page should load Swagger UI's script and stylesheet"
    for url in urls:
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("", ""), f"{url} is not on this instance"
    assert not re.search(r"https?://|//cdn", html)
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in urls


def test_the_files_it_references_are_served(client, settings):
    settings.WHITENOISE_USE_FINDERS = True  # as in development: straight from the packages
    urls = ASSETS.findall(client.get("/api/docs/").content.decode())
    static = [u for u in urls if u.startswith("/static/")]
    assert len(static) == 4  # favicon, stylesheet, bundle, standalone preset
    for url in static:
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"".join(response.streaming_content), url
        # collectstatic finds it too, for production's manifest storage
        assert finders.find(url.removeprefix("/static/")), url
