"""What every channel backend shares: the failure type and the stable ids of a message."""

from django.conf import settings


class SendFailure(Exception):
    """A send the provider did not accept.

    `temporary` failures (SMTP 4xx, HTTP 429/5xx, timeouts, refused connections) are retried with
    backoff until the event expires; the others end the event `deliveryFailed`. `address_rejected`
    marks a permanent refusal of the address itself (unknown mailbox, unregistered device), which
    quarantines it.
    """

    def __init__(self, message: str, *, temporary: bool, response: str = "", address_rejected: bool = False):
        super().__init__(message)
        self.message = message
        self.temporary = temporary
        self.response = response
        self.address_rejected = address_rejected


def message_id_for(pkey: str) -> str:
    """A stable Message-ID per event, so a send repeated after a crash is recognisable."""
    return f"<{pkey}@{settings.CAMPAIGN_MESSAGE_ID_DOMAIN}>"


def idempotency_key_for(pkey: str) -> str:
    """The provider idempotency/collapse key of an event's message: the same on every attempt."""
    return f"mc-{pkey}"
