"""Signed status callbacks (webhooks): the transport. When an event reaches a final status, its
lifecycle (events/lifecycle.py) queues `events.tasks.event_callback_send`, which POSTs the status
to the URL of the integration that sent it through `callback_deliver`.

SSRF protection: the host is resolved when connecting, and every address it resolves to must be a
public one (no loopback, private, link-local, multicast, reserved or unspecified address) unless
CAMPAIGN_CALLBACK_ALLOW_PRIVATE is set for development. The connection is made to the address that
was checked, so a DNS answer that changes between check and use (DNS rebinding) cannot redirect it.
Redirects are never followed: a 3xx answer is a failed attempt.
"""

import hashlib
import hmac
import http.client
import ipaddress
import json
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from .models import CallbackAttempt, CallbackAttemptResult, Integration

SIGNATURE_HEADER = "X-MC-Signature"


class CallbackRefused(Exception):
    """The URL may not be called (bad URL or an address that is not allowed)."""


def callback_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>`: the receiver recomputes it with the
    integration's secret and refuses old timestamps (replays)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def address_allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if settings.CAMPAIGN_CALLBACK_ALLOW_PRIVATE:
        return not ip.is_multicast and not ip.is_unspecified
    return ip.is_global and not ip.is_multicast


def _connect_checked(host: str, port: int, timeout: float) -> socket.socket:
    """Resolve, check every address, then connect to a checked one."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise CallbackRefused(f"{host} does not resolve: {exc}") from exc
    for *_, sockaddr in infos:
        if not address_allowed(sockaddr[0]):
            raise CallbackRefused(f"{host} resolves to {sockaddr[0]}, which is not a public address.")
    last: OSError | None = None
    for family, socktype, proto, _, sockaddr in infos:
        sock = socket.socket(family, socktype, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last or OSError(f"cannot connect to {host}")


class _CheckedHTTPConnection(http.client.HTTPConnection):
    def connect(self):
        self.sock = _connect_checked(self.host, self.port, self.timeout)


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    def connect(self):
        sock = _connect_checked(self.host, self.port, self.timeout)
        self.sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)


@dataclass(frozen=True)
class CallbackResult:
    result: str
    response_status: int | None = None
    error: str = ""


def callback_post(*, url: str, secret: str, payload: dict, timeout: float | None = None) -> CallbackResult:
    """POST one signed callback; never follows a redirect."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return CallbackResult(
            CallbackAttemptResult.REFUSED, error="Only http(s) URLs with a host are allowed."
        )
    body = json.dumps(payload, separators=(",", ":")).encode()
    connection_class = _CheckedHTTPSConnection if parts.scheme == "https" else _CheckedHTTPConnection
    connection = connection_class(
        parts.hostname, parts.port, timeout=timeout or settings.CAMPAIGN_CALLBACK_TIMEOUT
    )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "MessageCenter-Callback/1",
        SIGNATURE_HEADER: callback_signature(secret=secret, timestamp=int(time.time()), body=body),
    }
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(65536)
    except CallbackRefused as exc:
        return CallbackResult(CallbackAttemptResult.REFUSED, error=str(exc))
    except (OSError, http.client.HTTPException) as exc:
        return CallbackResult(CallbackAttemptResult.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000])
    finally:
        connection.close()
    if 200 <= response.status < 300:
        return CallbackResult(CallbackAttemptResult.DELIVERED, response.status)
    error = "Redirects are not followed." if 300 <= response.status < 400 else "Non-2xx answer."
    return CallbackResult(CallbackAttemptResult.FAILED, response.status, error)


def callback_deliver(
    *,
    integration: Integration,
    event_pk: int,
    event_pkey: str,
    configuration_id: int,
    event_status: str,
    payload: dict,
) -> CallbackAttempt | None:
    """POST one event's status to its integration's callback URL and log the attempt (with the
    event's PKey and configuration, which the log keeps once the event is deleted); None when the
    integration has no callback (URL and secret)."""
    if not integration.callback_url or not integration.callback_secret:
        return None
    outcome = callback_post(url=integration.callback_url, secret=integration.callback_secret, payload=payload)
    return CallbackAttempt.objects.create(
        integration=integration,
        event_id=event_pk,
        event_pkey=event_pkey,
        configuration_id=configuration_id,
        event_status=event_status,
        url=integration.callback_url,
        result=outcome.result,
        response_status=outcome.response_status,
        error=outcome.error,
    )
