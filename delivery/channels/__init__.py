"""Sending rendered messages, one backend per channel chosen by settings.

`message_send` is the one entry point (event delivery and proof sending use it). Every backend
raises `SendFailure` for a failed send, telling a temporary failure (retried with backoff) from a
permanent one, and keeps the provider's answer for the attempts log.
"""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string
from django.utils.translation import gettext

from campaign.exceptions import ApplicationError
from delivery.targeting import Recipient
from messages_app.rendering import Rendered

from .base import SendFailure, message_id_for
from .email import email_send

__all__ = ["SendFailure", "channel_address", "message_id_for", "message_send"]

BACKEND_SETTINGS = {"sms": "DELIVERY_SMS_BACKEND", "push": "DELIVERY_PUSH_BACKEND"}


@cache
def _backend(path: str):
    return import_string(path)()


def channel_backend(channel: str):
    """The configured backend instance of the SMS or push channel (one per process)."""
    path = getattr(settings, BACKEND_SETTINGS[channel], "")
    if not path:
        raise ApplicationError(
            gettext("No {channel} provider is configured on this installation.").format(channel=channel),
            code="no_provider",
        )
    return _backend(path)


def channel_address(*, channel: str, recipient: Recipient) -> str:
    """The address a message of this channel goes to (the key of quarantine and denylist)."""
    if channel == "email":
        return recipient.email.strip().lower()
    if channel == "sms":
        return recipient.mobile_phone
    return recipient.push_token


def message_send(*, channel: str, pkey: str, recipient: Recipient, rendered: Rendered) -> str:
    """Send one rendered message on its channel; returns the provider's message id.
    Raises SendFailure when the provider refused it or could not be reached."""
    if channel == "email":
        return email_send(
            pkey=pkey, to=recipient.email, rendered=rendered, unsubscribe_url=recipient.unsubscribe_url
        )
    if channel in BACKEND_SETTINGS:
        return channel_backend(channel).send(pkey=pkey, recipient=recipient, rendered=rendered)
    raise ApplicationError(
        gettext("Unknown channel {channel!r}.").format(channel=channel), code="no_provider"
    )
