"""Who acts and from where, for the audit log: set once per entry point, read by `audit_record`.

A web request gets its context from `AuditContextMiddleware` (the admin, or the API), a management
command from the `audited_command` decorator on its `handle`; services never take it as a
parameter. Outside any of them (a Celery task, a shell) the source is `system`.
"""

import functools
import ipaddress
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any

from axes.helpers import get_client_ip_address
from django.conf import settings

from .models import AuditSource


@dataclass(slots=True)
class AuditContext:
    source: str
    # The request's user (possibly a lazy object, read when an entry is written), or None.
    user: Any = None
    integration_id: int | None = None
    integration_label: str = ""
    command: str = ""
    # The web request, read only when an entry is written (most requests write none).
    request: Any = None

    @property
    def ip_network(self) -> str:
        if self.request is None:
            return ""
        return ip_network_of(get_client_ip_address(self.request) or "")


_context: ContextVar[AuditContext | None] = ContextVar("audit_context", default=None)
# Set while a service that records one entry for a whole action runs the services it is made of.
_quiet: ContextVar[bool] = ContextVar("audit_quiet", default=False)


def audit_context_current() -> AuditContext:
    return _context.get() or AuditContext(source=AuditSource.SYSTEM)


@contextmanager
def audit_context(context: AuditContext) -> Iterator[AuditContext]:
    token = audit_context_enter(context)
    try:
        yield context
    finally:
        audit_context_exit(token)


def audit_context_enter(context: AuditContext) -> Token:
    """What `audit_context` does, without a generator: for the middleware, on every request."""
    return _context.set(context)


def audit_context_exit(token: Token) -> None:
    _context.reset(token)


@contextmanager
def audit_quiet() -> Iterator[None]:
    """The services run inside write no entry: the caller records the action as one entry."""
    token = _quiet.set(True)
    try:
        yield
    finally:
        _quiet.reset(token)


def audit_is_quiet() -> bool:
    return _quiet.get()


def ip_network_of(address: str) -> str:
    """The network of a client address (IPv4 /24, IPv6 /48 by default): where a change came from,
    without keeping the exact address of a person."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return ""
    prefix = settings.AUDIT_IPV4_PREFIX if ip.version == 4 else settings.AUDIT_IPV6_PREFIX
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def audited_command(handle: Callable) -> Callable:
    """Decorate a management command's `handle`: what it changes is recorded as done by that command."""

    @functools.wraps(handle)
    def wrapper(self, *args, **options):
        name = type(self).__module__.rsplit(".", 1)[-1]
        with audit_context(AuditContext(source=AuditSource.COMMAND, command=name)):
            return handle(self, *args, **options)

    return wrapper
