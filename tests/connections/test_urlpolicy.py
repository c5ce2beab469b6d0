from __future__ import annotations

import pytest

from apps.connections.urlpolicy import UrlNotAllowed, check_base_url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://10.0.0.5/api", "private"),
        ("http://192.168.1.1", "private"),
        ("http://[fd00::1]/", "private"),
        ("ftp://example.com", "must start with https://"),
        ("https://user:pw@example.com", "credential fields"),
        ("https://", "no host name"),
        ("https://example.com/?token=x", "query"),
    ],
)
def test_refused_urls_say_why(url, reason, settings):
    settings.CONCORD_ALLOWED_PRIVATE_NETWORKS = []
    with pytest.raises(UrlNotAllowed, match=reason):
        check_base_url(url)


def test_loopback_needs_an_explicit_allowance(settings):
    settings.CONCORD_ALLOWED_PRIVATE_NETWORKS = []
    with pytest.raises(UrlNotAllowed, match="CONCORD_ALLOWED_PRIVATE_NETWORKS"):
        check_base_url("http://127.0.0.1:8100/hubspot")
    settings.CONCORD_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8"]
    assert check_base_url("http://127.0.0.1:8100/hubspot/") == "http://127.0.0.1:8100/hubspot"


def test_public_ip_literal_is_allowed(settings):
    settings.CONCORD_ALLOWED_PRIVATE_NETWORKS = []
    assert check_base_url("https://1.1.1.1") == "https://1.1.1.1"
