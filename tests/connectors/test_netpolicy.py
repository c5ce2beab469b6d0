"""connectors.netpolicy and netguard: the address policy, applied at connect time by HTTP.

Real sockets and real local HTTP servers throughout; only the name service is a test
double, injected into the policy (a rebinding DNS server cannot be run here), and it hands
out real loopback addresses where real servers listen.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connectors.errors import FatalError
from connectors.http import HttpClient
from connectors.netguard import guarded_session
from connectors.netpolicy import AddressNotAllowed, AddressPolicy, embedded_ipv4
from tests.recording_server import PRIVATE_ANSWER, recording_server

PUBLIC = "93.184.215.14"
NAME = "api.rebind.test"


class Rebinding:
    """A resolver that answers `first` for NAME once, then `then`: what a DNS server under
    an attacker's control does between the save-time check and the request."""

    def __init__(self, first: str, then: str) -> None:
        self.answers = [first]
        self.then = then
        self.calls = 0

    def __call__(self, host: str, port: int, family: int = 0, type: int = 0, *rest: object):
        assert host == NAME, host
        self.calls += 1
        address = self.answers.pop(0) if self.answers else self.then
        fam = socket.AF_INET6 if ":" in address else socket.AF_INET
        sockaddr = (address, port, 0, 0) if fam == socket.AF_INET6 else (address, port)
        return [(fam, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr)]


def acme(base_url: str, policy: AddressPolicy) -> HttpClient:
    return HttpClient(
        system="Acme", base_url=base_url, address_policy=policy, max_attempts=1, read_timeout=5
    )


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("::ffff:127.0.0.1", "carries 127.0.0.1, a loopback address"),
        ("::7f00:1", "carries 127.0.0.1, a loopback address"),  # IPv4-compatible ::127.0.0.1
        ("64:ff9b::7f00:1", "carries 127.0.0.1"),  # NAT64
        ("64:ff9b::a9fe:a9fe", "carries 169.254.169.254, a link-local"),  # metadata via NAT64
        ("64:ff9b:1::a00:5", "local-use NAT64"),
        ("2002:7f00:1::1", "carries 127.0.0.1"),  # 6to4
        ("2002:a00:5::1", "carries 10.0.0.5, a private"),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "carries 10.0.0.1"),  # Teredo, client 10.0.0.1
        ("0.0.0.0", "unspecified"),  # noqa: S104 - an address to judge, not to bind
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "private or reserved"),
        ("fe80::1", "link-local"),
    ],
)
def test_ipv6_forms_that_carry_a_private_ipv4_address_are_refused(address, reason):
    with pytest.raises(AddressNotAllowed, match=reason) as refused:
        AddressPolicy(["::1/128"]).check_address("h.test", address)
    assert refused.value.host == "h.test"


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8"])
def test_ipv6_forms_that_carry_a_public_ipv4_address_are_allowed(address):
    assert AddressPolicy().refusal(ipaddress.ip_address(address)) is None


def test_embedded_ipv4_reads_each_form():
    def inner(a: str) -> list[str]:
        return [str(v4) for v4 in embedded_ipv4(ipaddress.ip_address(a))]

    assert inner("::ffff:10.1.2.3") == ["10.1.2.3"]
    assert inner("::10.1.2.3") == ["10.1.2.3"]
    assert inner("64:ff9b::10.1.2.3") == ["10.1.2.3"]
    assert inner("2002:a01:203::") == ["10.1.2.3"]
    assert inner("::1") == inner("2606:4700::1111") == inner("10.1.2.3") == []


def test_allowed_networks_cover_the_embedded_forms_of_their_addresses():
    policy = AddressPolicy(["127.0.0.0/8"])
    assert policy.refusal(ipaddress.ip_address("::ffff:127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("::ffff:10.0.0.1")) is not None


def test_a_name_that_rebinds_to_loopback_after_the_check_never_reaches_it():
    with recording_server("127.0.0.1") as internal:
        resolver = Rebinding(first=PUBLIC, then="127.0.0.1")
        policy = AddressPolicy([], resolver=resolver)
        policy.resolve(NAME, internal.port)  # the check when the URL is saved: public
        http = acme(f"http://{NAME}:{internal.port}", policy)
        with pytest.raises(AddressNotAllowed) as refused:
            http.get("/crm/v3/objects/contacts")
        http.close()
    assert internal.requests == []
    message = str(refused.value)
    assert f"{NAME} resolves to 127.0.0.1, a loopback address" in message
    assert message.startswith("Acme GET /crm/v3/objects/contacts: ")
    assert "hunter2" not in message
    assert refused.value.status is None


def test_one_private_answer_among_public_ones_refuses_the_name():
    def both(host, port, *rest):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC, port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    with pytest.raises(AddressNotAllowed, match=re.escape("127.0.0.1")):
        AddressPolicy(resolver=both).resolve(NAME, 80)


def test_the_connection_goes_to_the_address_checked_under_the_host_name():
    """The name is looked up once per connection, and the socket connects to that answer,
    while the request still names the host (Host header; SNI for https)."""
    with recording_server("127.0.0.2") as service:
        resolver = Rebinding(first="127.0.0.2", then="127.0.0.3")
        policy = AddressPolicy(["127.0.0.2/32"], resolver=resolver)
        http = acme(f"http://{NAME}:{service.port}", policy)
        assert http.json(http.get("/ping")) == json.loads(PRIVATE_ANSWER)
        http.close()
    assert resolver.calls == 1
    assert [(m, p, h["Host"]) for m, p, h in service.requests] == [
        ("GET", "/ping", f"{NAME}:{service.port}")
    ]


def test_a_redirect_to_a_private_address_is_refused_at_every_hop():
    internal_server = recording_server("127.0.0.1")
    with (
        internal_server as internal,
        recording_server(
            "127.0.0.2", status=302, headers={"Location": f"{internal.url}/admin"}, body=""
        ) as outside,
    ):
        policy = AddressPolicy(["127.0.0.2/32"])
        # HttpClient never follows redirects: the 302 is an error naming the call.
        http = acme(outside.url, policy)
        with pytest.raises(FatalError, match="302"):
            http.get("/start")
        http.close()
        # And a session that does follow them checks every hop's address.
        refused = re.escape("127.0.0.1, a loopback address")
        with guarded_session(policy) as session, pytest.raises(AddressNotAllowed, match=refused):
            session.get(f"{outside.url}/start", timeout=5)
        assert len(outside.requests) == 2
    assert internal.requests == []


def test_without_a_policy_the_session_is_plain_requests():
    with recording_server("127.0.0.1") as local, guarded_session(None) as session:
        assert session.get(local.url, timeout=5).status_code == 200
        assert isinstance(session.get_adapter(local.url), requests.adapters.HTTPAdapter)
    assert len(local.requests) == 1


def test_an_unresolvable_name_is_a_connection_failure_not_a_refusal():
    def nothing(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    http = acme("http://nowhere.test", AddressPolicy(resolver=nothing))
    with pytest.raises(Exception, match="connection failed") as failed:
        http.get("/x")
    assert not isinstance(failed.value, AddressNotAllowed)
    http.close()


def test_https_still_verifies_the_certificate_for_the_host_name(tmp_path):
    """The socket goes to the checked address, but TLS (SNI and certificate verification)
    is still about the name: the name's certificate passes, another name's does not."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

    class Hello(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    port = httpd.server_address[1]

    def to_loopback(host, port, *rest):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    policy = AddressPolicy(["127.0.0.0/8"], resolver=to_loopback)
    try:
        with guarded_session(policy) as session:
            answer = session.get(f"https://{NAME}:{port}/", verify=str(cert_file), timeout=5)
            assert answer.status_code == 204
            with pytest.raises(requests.exceptions.SSLError, match=re.escape("other.test")):
                session.get(f"https://other.test:{port}/", verify=str(cert_file), timeout=5)
    finally:
        httpd.shutdown()
        httpd.server_close()
