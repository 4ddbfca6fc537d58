"""Email through Django's email API: SMTP, any django-anymail ESP, or the local outbox."""

import contextlib
import secrets
import smtplib
from email.policy import Compat32
from email.utils import formataddr

from anymail.exceptions import AnymailAPIError, AnymailError, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpEmailBackend

from messages_app.rendering import RenderedEmail
from profiles.unsubscribe import list_unsubscribe_headers

from .base import SendFailure, message_id_for


class _ShortHeadersAsIs(Compat32):
    """The policy of Django's messages (compat32), writing a header that needs neither folding
    nor encoding as it is: compat32 runs every header through email.header.Header, a third of the
    cost of serialising a message. Anything else (long or non-ASCII values) goes through it."""

    def _fold(self, name, value, sanitize):
        line_length = self.max_line_length or 78
        if (
            isinstance(value, str)
            and value.isascii()
            and len(name) + 2 + len(value) <= line_length
            and "\n" not in value
            and "\r" not in value
        ):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


SHORT_HEADERS_AS_IS = _ShortHeadersAsIs()


class _Email(EmailMultiAlternatives):
    def message(self):
        message = super().message()
        message.policy = SHORT_HEADERS_AS_IS
        if message.is_multipart():
            # A random boundary of our own: the generator's searches the parts for its candidate
            # with a regular expression compiled for each message. 128 random bits do not occur
            # in a rendered message.
            message.set_boundary(f"==============={secrets.token_hex(16)}==")
        return message


def email_send(*, pkey: str, to: str, rendered: RenderedEmail, unsubscribe_url: str = "") -> str:
    """Send one email; returns the provider's message id (the Message-ID for plain SMTP). With an
    unsubscribe link (profile-based email), the RFC 8058 one-click headers point at it."""
    from_email = (
        formataddr((rendered.sender_name, rendered.sender_email))
        if rendered.sender_email
        else settings.DEFAULT_FROM_EMAIL
    )
    message_id = message_id_for(pkey)
    email = _Email(
        subject=rendered.subject,
        body=rendered.text,
        from_email=from_email,
        to=[to],
        reply_to=[rendered.reply_to] if rendered.reply_to else None,
        headers={
            "Message-ID": message_id,
            **(list_unsubscribe_headers(url=unsubscribe_url) if unsubscribe_url else {}),
        },
    )
    if rendered.html:
        email.attach_alternative(rendered.html, "text/html")
    try:
        email.connection, reused = _connection()
        try:
            email.send(fail_silently=False)
        except smtplib.SMTPServerDisconnected:
            if not reused:
                raise
            # The server closed the idle connection we kept: once more on a new one.
            _close_connection()
            email.connection, _ = _connection()
            email.send(fail_silently=False)
    except Exception as exc:
        # Whatever state the session is in, the next message starts on a new connection.
        _close_connection()
        failure = email_failure(exc)
        if failure is None:
            raise
        raise failure from exc
    anymail_status = getattr(email, "anymail_status", None)
    if anymail_status is not None and anymail_status.message_id:
        return str(anymail_status.message_id)
    return message_id


# The SMTP connection of this process, kept open between messages: a new connection (and
# greeting, EHLO, STARTTLS, AUTH) per message would cost more than the message itself.
_kept: dict = {}


def _connection_key() -> tuple:
    return (settings.EMAIL_BACKEND, settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_HOST_USER)


def _connection():
    """(connection, reused): the kept connection of the SMTP backend, or a new one of any other
    backend (ESP backends and the outbox manage their own)."""
    key = _connection_key()
    if _kept.get("key") == key:
        return _kept["connection"], True
    _close_connection()
    connection = get_connection()
    if isinstance(connection, SmtpEmailBackend):
        connection.open()
        _kept.update(key=key, connection=connection)
    return connection, False


def _close_connection() -> None:
    connection = _kept.pop("connection", None)
    _kept.pop("key", None)
    if connection is not None:
        with contextlib.suppress(Exception):
            connection.close()


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
