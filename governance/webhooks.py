"""Sending one webhook safely, and checking a webhook URL before it is accepted.

Server-side request forgery: a URL whose host resolves to an address that is not global (loopback,
private, link-local such as the cloud metadata service at 169.254.169.254, shared, reserved,
multicast, or one of those inside an IPv4-mapped, 6to4 or Teredo address) is refused, unless
``WEBHOOK_ALLOW_PRIVATE`` is on (tests, receivers inside the company network) or the URL is the
operator's own (the system subscription, from GOVERNANCE_WEBHOOK_URL). The check is made when a
subscription is saved and again before every delivery, on the addresses the host resolves to then;
the connection is made to the very address that was checked (the Host header and TLS name are the
URL's), so a DNS answer that changes between the check and the request (rebinding) cannot move it.

The exchange is a plain HTTP/1.1 POST written here rather than through a client library, so that
every limit holds whatever the receiver does: no redirect is followed (a 3xx is an answer like any
other non-2xx), one deadline covers connecting, TLS, sending and reading (a receiver that drips its
answer a byte at a time is cut off at the deadline), and at most ``WEBHOOK_MAX_RESPONSE_BYTES`` of
the answer are read (a 10 MB answer costs 64 KB). ``post`` never raises: it returns an ``Answer``.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import cache
from urllib.parse import quote, urlsplit

from django.conf import settings

MAX_URL_LENGTH = 2000
EXCERPT_BYTES = 1000  # of the answer's body, kept in the delivery log
_SAFE_PATH = "/%:@!$&'()*+,;=-._~?"


class Refused(ValueError):
    """A URL that is not sent to: malformed, or resolving to an address that is not allowed."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # IDNA-encoded, without brackets
    port: int
    path: str  # path and query, percent-encoded
    host_header: str


@dataclass(frozen=True)
class Answer:
    """What came back: ``status`` None when no HTTP answer arrived (``error`` says why)."""

    status: int | None
    error: str = ""
    excerpt: str = ""
    elapsed: float = 0.0
    cut: bool = False  # the answer was longer than what was read
    refused: bool = False  # the URL or its address is not allowed: sending again will not help

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def allow_private() -> bool:
    return bool(getattr(settings, "WEBHOOK_ALLOW_PRIVATE", False))


def timeout_seconds() -> float:
    return float(getattr(settings, "WEBHOOK_TIMEOUT_SECONDS", 5.0))


def response_cap() -> int:
    return int(getattr(settings, "WEBHOOK_MAX_RESPONSE_BYTES", 64 * 1024))


# ---------------------------------------------------------------------------------------------
# The URL and its addresses


def parse(url: str) -> Target:
    """An http(s) URL with a host and nothing that could be read two ways → its parts (Refused)."""
    if not isinstance(url, str) or not url.strip():
        raise Refused("Give the webhook's URL.")
    if len(url) > MAX_URL_LENGTH:
        raise Refused(f"A webhook URL has at most {MAX_URL_LENGTH} characters.")
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        raise Refused("A webhook URL may not hold spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"Not a URL: {exc}.") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise Refused("A webhook URL starts with https:// (or http://).")
    if parts.username is not None or parts.password is not None:
        raise Refused("A webhook URL may not hold a user name or password; put a token in its path.")
    host = parts.hostname or ""
    if not host:
        raise Refused("A webhook URL names a host.")
    try:
        host = host.encode("idna").decode("ascii") if not _is_ip(host) else host
    except UnicodeError as exc:
        raise Refused(f"Not a valid host name: {parts.hostname}.") from exc
    port = port or (443 if scheme == "https" else 80)
    path = quote(parts.path or "/", safe=_SAFE_PATH) + (
        f"?{quote(parts.query, safe=_SAFE_PATH)}" if parts.query else ""
    )
    shown = f"[{host}]" if ":" in host else host
    default = (scheme, port) in (("http", 80), ("https", 443))
    return Target(scheme, host, port, path, shown if default else f"{shown}:{port}")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def forbidden_reason(ip: str) -> str | None:
    """Why an address may not be sent to (None: it is a global address)."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    inner = []
    if isinstance(addr, ipaddress.IPv6Address):
        inner = [a for a in (addr.ipv4_mapped, addr.sixtofour, (addr.teredo or (None, None))[1]) if a]
    for a in (addr, *inner):
        if a.is_loopback:
            return f"{ip} is a loopback address"
        if a.is_link_local:
            return f"{ip} is a link-local address"
        if a.is_multicast:
            return f"{ip} is a multicast address"
        if a.is_private:
            return f"{ip} is a private address"
        if not a.is_global:
            return f"{ip} is not a public address"
    return None


@cache
def _resolver() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="webhook-dns")


def resolve(target: Target, *, private_ok: bool, timeout: float) -> list[str]:
    """The addresses to connect to, every one of them allowed → the list (Refused otherwise).

    A host that resolves to several addresses is refused if any of them is not allowed: a name
    that mixes a public and a private address is the shape of a rebinding attempt."""
    if _is_ip(target.host):
        addresses = [target.host]
    else:
        future = _resolver().submit(socket.getaddrinfo, target.host, target.port, type=socket.SOCK_STREAM)
        try:
            infos = future.result(timeout=max(0.1, timeout))
        except FutureTimeout as exc:
            raise Refused(f"{target.host} did not resolve within {timeout:.0f} s.") from exc
        except (OSError, UnicodeError) as exc:
            raise Refused(f"{target.host} does not resolve ({exc}).") from exc
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        if not addresses:
            raise Refused(f"{target.host} does not resolve.")
    if not private_ok:
        for ip in addresses:
            reason = forbidden_reason(ip)
            if reason:
                raise Refused(
                    f"{target.host} resolves to {reason}; webhooks go to public addresses only "
                    "(the operator may allow private ones with WEBHOOK_ALLOW_PRIVATE=1)."
                )
    return addresses


def check_url(url: str, *, private_ok: bool | None = None) -> Target:
    """What a subscription's URL must pass when it is saved (Refused with the reason)."""
    target = parse(url)
    resolve(
        target, private_ok=allow_private() if private_ok is None else private_ok, timeout=timeout_seconds()
    )
    return target


# ---------------------------------------------------------------------------------------------
# One POST


@cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("no answer within the time limit")
    return left


def _request_bytes(target: Target, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        f"POST {target.path} HTTP/1.1",
        f"Host: {target.host_header}",
        "User-Agent: Gouvernail-webhook/1",
        "Connection: close",
        f"Content-Length: {len(body)}",
    ]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r} holds a line break")
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _complete(raw: bytes, head_end: int) -> bool:
    """Enough has been read: the whole body as Content-Length or chunking says, or an excerpt."""
    body = raw[head_end + 4 :]
    if len(body) >= EXCERPT_BYTES:
        return True
    head = raw[:head_end].lower()
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip() == b"content-length" and value.strip().isdigit():
            return len(body) >= int(value.strip())
        if name.strip() == b"transfer-encoding" and b"chunked" in value:
            return body.endswith(b"0\r\n\r\n")
    return False


def _read(sock: socket.socket, deadline: float, cap: int) -> tuple[bytes, bool]:
    """Read the answer until it is complete, closed, ``cap`` bytes or the deadline → (bytes, cut).

    Past the deadline with the status line and headers in hand, what was read is the answer (the
    receiver answered; the rest of a slow body does not matter); before that, TimeoutError."""
    raw = b""
    head_end = -1
    while len(raw) < cap:
        try:
            sock.settimeout(_left(deadline))
            chunk = sock.recv(min(65536, cap - len(raw)))
        except TimeoutError:
            if head_end >= 0:
                return raw, True
            raise
        if not chunk:
            return raw, False
        raw += chunk
        if head_end < 0:
            head_end = raw.find(b"\r\n\r\n")
        if head_end >= 0 and _complete(raw, head_end):
            return raw, False
    if head_end < 0:
        raise ValueError(f"the answer's headers are longer than {cap // 1024} KB")
    return raw, True


def _status(raw: bytes) -> tuple[int, str]:
    line, _, rest = raw.partition(b"\r\n")
    parts = line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit() or len(parts[1]) != 3:
        raise ValueError("the receiver did not answer in HTTP/1.x")
    body = rest.partition(b"\r\n\r\n")[2][:EXCERPT_BYTES]
    text = body.decode("utf-8", errors="replace")
    return int(parts[1]), "".join(ch if ch.isprintable() or ch in "\n\t" else "?" for ch in text)


def _connect(addresses: list[str], port: int, deadline: float) -> socket.socket:
    """A connection to the first of the checked addresses that takes one (a host with an IPv6 and
    an IPv4 address may be out of reach by one of them)."""
    error: OSError | None = None
    for ip in addresses:
        sock = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.settimeout(_left(deadline))
            sock.connect((ip, port))
            return sock
        except TimeoutError:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            error = exc
    raise error or ConnectionError("no address to connect to")


def _exchange(
    target: Target, addresses: list[str], payload: bytes, deadline: float, cap: int
) -> tuple[int, str, bool]:
    sock = _connect(addresses, target.port, deadline)
    try:
        if target.scheme == "https":
            sock.settimeout(_left(deadline))
            sock = _tls().wrap_socket(sock, server_hostname=target.host)
        sock.settimeout(_left(deadline))
        sock.sendall(payload)
        raw, cut = _read(sock, deadline, cap)
    finally:
        sock.close()
    if not raw:
        raise ConnectionError("the receiver closed the connection without answering")
    status, excerpt = _status(raw)
    return status, excerpt, cut


def post(url: str, body: bytes, headers: dict[str, str], *, private_ok: bool | None = None) -> Answer:
    """POST ``body`` to ``url`` within the limits above → the Answer (never raises)."""
    started = time.monotonic()
    limit = timeout_seconds()
    deadline = started + limit
    try:
        target = parse(url)
        addresses = resolve(
            target, private_ok=allow_private() if private_ok is None else private_ok, timeout=limit
        )
        payload = _request_bytes(target, body, headers)
        status, excerpt, cut = _exchange(target, addresses, payload, deadline, response_cap())
    except Refused as exc:
        return Answer(None, f"Refused: {exc}", elapsed=time.monotonic() - started, refused=True)
    except TimeoutError:
        return Answer(None, f"No answer within {limit:g} s.", elapsed=time.monotonic() - started)
    except ssl.SSLError as exc:
        return Answer(None, f"TLS failed: {exc.reason or exc}.", elapsed=time.monotonic() - started)
    except (OSError, ValueError) as exc:
        return Answer(None, f"{exc.__class__.__name__}: {exc}", elapsed=time.monotonic() - started)
    error = ""
    if 300 <= status < 400:
        error = f"Answered {status} (a redirect): redirects are not followed; give the final URL."
    elif not 200 <= status < 300:
        error = f"Answered {status}."
    if cut:
        error = (
            error + " " if error else ""
        ) + f"The answer was cut off after {response_cap() // 1024} KB or the time limit."
    return Answer(status, error, excerpt, time.monotonic() - started, cut)
