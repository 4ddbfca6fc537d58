"""Sending rendered messages: email through Django's email API (SMTP, any django-anymail ESP, the outbox)."""

from email.utils import formataddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from campaign.exceptions import ApplicationError
from events.enrichment import Recipient
from messages_app.rendering import Rendered, RenderedEmail


def message_id_for(pkey: str) -> str:
    """A stable Message-ID per event, so a send repeated after a crash is recognisable."""
    return f"<{pkey}@{settings.CAMPAIGN_MESSAGE_ID_DOMAIN}>"


def message_send(*, channel: str, pkey: str, recipient: Recipient, rendered: Rendered) -> str:
    """Send one rendered message on its channel; returns the provider's message id."""
    if channel == "email":
        return email_send(pkey=pkey, to=recipient.email, rendered=rendered)
    raise ApplicationError(f"No {channel} provider is configured on this installation.", code="no_provider")


def email_send(*, pkey: str, to: str, rendered: RenderedEmail) -> str:
    """Send one email; returns the provider's message id (the Message-ID for plain SMTP)."""
    from_email = (
        formataddr((rendered.sender_name, rendered.sender_email))
        if rendered.sender_email
        else settings.DEFAULT_FROM_EMAIL
    )
    message_id = message_id_for(pkey)
    email = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=from_email,
        to=[to],
        headers={"Message-ID": message_id},
    )
    if rendered.html:
        email.attach_alternative(rendered.html, "text/html")
    email.send(fail_silently=False)
    anymail_status = getattr(email, "anymail_status", None)
    if anymail_status is not None and anymail_status.message_id:
        return str(anymail_status.message_id)
    return message_id
