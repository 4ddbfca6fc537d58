"""SMS backends: Twilio's Messages REST API, and the local capture of development."""

from django.conf import settings

from delivery.targeting import Recipient
from messages_app.rendering import RenderedSms

from ..models import CapturedMessage
from .base import SendFailure, idempotency_key_for
from .http import http_post, http_session, is_temporary_status

# Twilio error codes that refuse the number itself: invalid 'To', unsubscribed (STOP), not an
# SMS-capable number, blocked destination.
TWILIO_ADDRESS_ERRORS = {21211, 21610, 21614, 21612, 21408}


class TwilioBackend:
    """POST /2010-04-01/Accounts/{sid}/Messages.json with HTTP basic auth (account SID + auth token)."""

    def __init__(self):
        self.account_sid = settings.TWILIO_ACCOUNT_SID
        self.auth_token = settings.TWILIO_AUTH_TOKEN
        self.url = (
            f"{settings.TWILIO_API_URL.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        )
        self.session = http_session()

    def send(self, *, pkey: str, recipient: Recipient, rendered: RenderedSms) -> str:
        data = {"To": recipient.mobile_phone, "Body": rendered.text}
        if settings.TWILIO_MESSAGING_SERVICE_SID:
            data["MessagingServiceSid"] = settings.TWILIO_MESSAGING_SERVICE_SID
        else:
            data["From"] = settings.TWILIO_FROM
        if settings.TWILIO_STATUS_CALLBACK:
            data["StatusCallback"] = settings.TWILIO_STATUS_CALLBACK
        # Twilio's Messages API has no idempotency key: a send repeated after a crash between
        # Twilio's answer and our commit cannot be recognised there (see the README).
        response = http_post(self.session, self.url, data=data, auth=(self.account_sid, self.auth_token))
        if response.status_code in (200, 201):
            return response.json()["sid"]
        try:
            body = response.json()
        except ValueError:
            body = {}
        code = body.get("code")
        message = body.get("message") or response.text[:300]
        raise SendFailure(
            f"Twilio refused the SMS: {response.status_code} {message}",
            temporary=is_temporary_status(response.status_code),
            response=f"HTTP {response.status_code} {response.text[:1000]}",
            address_rejected=code in TWILIO_ADDRESS_ERRORS,
        )


class CaptureBackend:
    """Keeps every SMS in the database (the admin's outbox) and sends nothing."""

    def send(self, *, pkey: str, recipient: Recipient, rendered: RenderedSms) -> str:
        captured = CapturedMessage.objects.create(
            channel="sms", to=recipient.mobile_phone, body=rendered.text, message_id=idempotency_key_for(pkey)
        )
        return f"captured-{captured.pk}"
