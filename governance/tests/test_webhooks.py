"""One webhook POST against real local receivers: no redirect followed, a deadline, a cap on what is
read, and server-side request forgery refused at both moments (the URL saved, the POST sent)."""

import socket
import threading

import pytest

from governance import webhooks
from governance.tests.http_receiver import Receiver

HEADERS = {"Content-Type": "application/json", "X-Gouvernail-Event": "version.stored"}


@pytest.fixture
def receiver():
    made = []

    def make(**kwargs):
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def resolves_to(monkeypatch):
    """resolves_to({"hooks.example.com": "127.0.0.1"}): DNS answers these (and only these) as given."""
    real = socket.getaddrinfo

    def install(table: dict[str, str]):
        def fake(host, port, *args, **kwargs):
            if host in table:
                ips = table[host] if isinstance(table[host], list) else [table[host]]
                return [
                    (socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
                    for ip in ips
                ]
            return real(host, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", fake)

    return install


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.org/hook", "https://"),
        ("https://user:pw@example.org/hook", "user name or password"),
        ("https://exa mple.org/hook", "spaces"),
        ("https:///hook", "host"),
        ("https://example.org:99999/hook", "Not a URL"),
        ("https://" + "a" * 2000 + ".org/", "at most"),
        ("", "Give"),
    ],
)
def test_malformed_urls_are_refused_with_the_reason(url, why):
    with pytest.raises(webhooks.Refused, match=why):
        webhooks.parse(url)


def test_a_url_is_read_one_way():
    t = webhooks.parse("https://Hooks.Example.org/services/T0/B1?x=1 2".replace(" ", "%20"))
    assert (t.scheme, t.host, t.port, t.path, t.host_header) == (
        "https",
        "hooks.example.org",
        443,
        "/services/T0/B1?x=1%202",
        "hooks.example.org",
    )
    assert webhooks.parse("http://[::1]:8080").host_header == "[::1]:8080"
    assert webhooks.parse("https://bücher.example/").host == "xn--bcher-kva.example"


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "2002:7f00:1::",
    ],
)
def test_addresses_that_are_not_public_are_forbidden(ip):
    assert webhooks.forbidden_reason(ip)


@pytest.mark.parametrize("ip", ["8.8.8.8", "2606:4700::1111", "93.184.215.14"])
def test_public_addresses_are_not(ip):
    assert webhooks.forbidden_reason(ip) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/",
        "http://localhost/",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://2130706433/",
        "http://0x7f.1/",
    ],
)
def test_a_url_resolving_to_a_private_address_is_refused_unless_allowed(url, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(webhooks.Refused, match="public addresses only"):
        webhooks.check_url(url)
    settings.WEBHOOK_ALLOW_PRIVATE = True
    webhooks.check_url(url)


def test_a_name_that_does_not_resolve_is_refused(settings):
    with pytest.raises(webhooks.Refused, match="resolve"):
        webhooks.check_url("https://no-such-host.invalid/hook")


def test_a_name_that_mixes_public_and_private_addresses_is_refused(monkeypatch):
    def both(host, port, *args, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", both)
    with pytest.raises(webhooks.Refused, match="10.0.0.5 is a private address"):
        webhooks.check_url("https://mixed.example.org/hook", private_ok=False)


def test_rebinding_after_the_check_is_refused_at_delivery(resolves_to, receiver):
    """The name was public when the subscription was saved; it points at loopback when sending."""
    r = receiver()
    resolves_to({"hooks.example.org": "93.184.215.14"})
    webhooks.check_url("http://hooks.example.org/hook", private_ok=False)
    resolves_to({"hooks.example.org": "127.0.0.1"})
    answer = webhooks.post(
        f"http://hooks.example.org:{r.server.server_port}/hook", b"{}", HEADERS, private_ok=False
    )
    assert answer.refused and not answer.ok and "loopback" in answer.error
    assert r.received == []


def test_the_post_goes_to_the_checked_address_with_the_urls_host(resolves_to, receiver):
    r = receiver()
    resolves_to({"receiver.test": "127.0.0.1"})
    answer = webhooks.post(
        f"http://receiver.test:{r.server.server_port}/in?a=1", b'{"x":1}', HEADERS, private_ok=True
    )
    assert answer.ok and answer.status == 204, answer
    (got,) = r.received
    assert got.path == "/in?a=1" and got.body == b'{"x":1}'
    assert got.headers["Host"] == f"receiver.test:{r.server.server_port}"
    assert got.headers["X-Gouvernail-Event"] == "version.stored"


def test_an_address_out_of_reach_gives_way_to_the_next(resolves_to, receiver):
    """A host with an IPv6 and an IPv4 address, the first one out of reach (nothing listens there)."""
    r = receiver()
    resolves_to({"dual.test": ["::1", "127.0.0.1"]})
    answer = webhooks.post(f"http://dual.test:{r.server.server_port}/hook", b"{}", HEADERS, private_ok=True)
    assert answer.ok and len(r.received) == 1


def test_a_redirect_is_not_followed(receiver):
    target = receiver()
    r = receiver(redirect_to=target.url)
    answer = webhooks.post(r.url, b"{}", HEADERS, private_ok=True)
    assert answer.status == 302 and not answer.ok
    assert "redirects are not followed" in answer.error
    assert len(r.received) == 1 and target.received == []


def test_a_slow_receiver_is_cut_off_at_the_time_limit(receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    r = receiver(delay=3)
    answer = webhooks.post(r.url, b"{}", HEADERS, private_ok=True)
    assert answer.status is None and answer.error == "No answer within 0.5 s."


def test_a_receiver_dripping_its_headers_is_cut_off_at_the_time_limit(receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.5
    r = receiver(drip=0.05)
    answer = webhooks.post(r.url, b"{}", HEADERS, private_ok=True)
    assert answer.status is None and "No answer within" in answer.error


@pytest.mark.parametrize(("status", "ok"), [(200, True), (500, False)])
def test_a_ten_megabyte_answer_is_not_read_whole(receiver, status, ok):
    r = receiver(answers=[status], body_bytes=10 * 1024 * 1024)
    answer = webhooks.post(r.url, b"{}", HEADERS, private_ok=True)
    assert answer.status == status and answer.ok is ok
    assert answer.excerpt == "x" * webhooks.EXCERPT_BYTES


def test_reading_stops_at_the_cap_whatever_the_sender_does(settings):
    """_read on a socket fed 10 MB with no end of headers: it stops at the cap and says so."""
    a, b = socket.socketpair()
    feeder = threading.Thread(target=lambda: _feed(a), daemon=True)
    feeder.start()
    try:
        with pytest.raises(ValueError, match="headers are longer than 64 KB"):
            webhooks._read(b, deadline=__import__("time").monotonic() + 5, cap=64 * 1024)
    finally:
        b.close()
        feeder.join(5)


def _feed(sock):
    try:
        sock.sendall(b"HTTP/1.1 200 OK\r\nX: " + b"a" * (10 * 1024 * 1024))
    except OSError:
        pass  # the reader hung up after 64 KB, as it should
    finally:
        sock.close()


def test_a_closed_port_is_an_error_not_an_exception(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    answer = webhooks.post(f"http://127.0.0.1:{port}/", b"{}", HEADERS, private_ok=True)
    assert answer.status is None and "Connection" in answer.error and not answer.refused


def test_something_that_is_not_http_is_an_error(settings):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def babble():
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        conn.close()

    t = threading.Thread(target=babble, daemon=True)
    t.start()
    answer = webhooks.post(f"http://127.0.0.1:{server.getsockname()[1]}/", b"{}", HEADERS, private_ok=True)
    server.close()
    assert answer.status is None and "HTTP/1.x" in answer.error


def test_a_header_with_a_line_break_is_never_sent(receiver):
    r = receiver()
    answer = webhooks.post(r.url, b"{}", {"X-Evil": "a\r\nHost: other"}, private_ok=True)
    assert answer.status is None and "line break" in answer.error and r.received == []
