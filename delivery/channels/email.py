"""Email through Django's email API: SMTP, any django-anymail ESP, or the local outbox."""

import smtplib
from email.utils import formataddr

from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMultiAlternatives

from messages_app.rendering import RenderedEmail

from .base import SendFailure, message_id_for


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
    try:
        email.send(fail_silently=False)
    except Exception as exc:
        failure = email_failure(exc)
        if failure is None:
            raise
        raise failure from exc
    anymail_status = getattr(email, "anymail_status", None)
    if anymail_status is not None and anymail_status.message_id:
        return str(anymail_status.message_id)
    return message_id


def _smtp_failure(code: int, text: bytes | str, *, address: bool) -> SendFailure:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    response = f"{code} {text}".strip()
    temporary = 400 <= code < 500
    return SendFailure(
        f"The SMTP server answered {response}",
        temporary=temporary,
        response=response,
        address_rejected=address and not temporary,
    )


def email_failure(exc: Exception) -> SendFailure | None:
    """The SendFailure of an exception raised by an email backend; None for a programming error."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        return _smtp_failure(code, text, address=True)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _smtp_failure(exc.smtp_code, exc.smtp_error, address=False)
    if isinstance(exc, smtplib.SMTPException | OSError):
        # Disconnections, timeouts, refused connections: the server may well be back later.
        return SendFailure(f"The SMTP server could not be reached: {exc}", temporary=True, response=str(exc))
    if isinstance(exc, AnymailRecipientsRefused):
        return SendFailure(str(exc), temporary=False, response=str(exc), address_rejected=True)
    if isinstance(exc, AnymailAPIError):
        status = getattr(exc, "status_code", None)
        # No status: the ESP's API could not be reached at all.
        temporary = status is None or status == 429 or status >= 500
        return SendFailure(str(exc), temporary=temporary, response=f"HTTP {status}" if status else str(exc))
    if isinstance(exc, AnymailError):
        return SendFailure(str(exc), temporary=False, response=str(exc))
    return None
