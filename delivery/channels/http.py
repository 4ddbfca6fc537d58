"""What the HTTP provider backends share: one pooled session, and the reading of failures."""

import requests
from django.conf import settings

from .base import SendFailure


def http_session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = "message-center"
    return session


def http_post(session: requests.Session, url: str, **kwargs) -> requests.Response:
    """POST with the delivery timeout; an unreachable or silent provider is a temporary failure."""
    try:
        return session.post(url, timeout=settings.DELIVERY_HTTP_TIMEOUT, **kwargs)
    except requests.Timeout as exc:
        raise SendFailure(
            f"The provider did not answer in time: {exc}", temporary=True, response="timeout"
        ) from exc
    except requests.RequestException as exc:
        raise SendFailure(
            f"The provider could not be reached: {exc}", temporary=True, response=str(exc)[:500]
        ) from exc


def is_temporary_status(status: int) -> bool:
    """HTTP statuses worth retrying: rate limiting and the provider's own errors."""
    return status == 429 or status >= 500
