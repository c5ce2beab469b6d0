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


@pytest.mark.parametrize(
    ("url", "inner"),
    [
        ("http://[::ffff:127.0.0.1]/", "127.0.0.1"),  # IPv4-mapped
        ("http://[::7f00:1]/", "127.0.0.1"),  # IPv4-compatible ::127.0.0.1
        ("http://[64:ff9b::a9fe:a9fe]/", "169.254.169.254"),  # NAT64: the metadata service
        ("http://[2002:a00:5::1]/", "10.0.0.5"),  # 6to4
        ("http://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/", "10.0.0.1"),  # Teredo
    ],
)
def test_ipv6_forms_of_private_ipv4_addresses_are_refused(url, inner, settings):
    settings.CONCORD_ALLOWED_PRIVATE_NETWORKS = []
    with pytest.raises(UrlNotAllowed, match=f"carries {inner}"):
        check_base_url(url)


def test_development_still_allows_the_loopback_sandboxes(settings):
    settings.CONCORD_ALLOWED_PRIVATE_NETWORKS = ["127.0.0.0/8", "::1/128"]
    assert check_base_url("http://localhost:8100/zendesk") == "http://localhost:8100/zendesk"
