from django.core.mail.backends.base import BaseEmailBackend

from .models import CapturedEmail


class OutboxEmailBackend(BaseEmailBackend):
    """Keeps every email in the database, readable in the admin's outbox, and sends nothing."""

    def send_messages(self, email_messages):
        for message in email_messages:
            html = next(
                (
                    content
                    for content, mimetype in getattr(message, "alternatives", [])
                    if mimetype == "text/html"
                ),
                "",
            )
            mime = message.message()
            CapturedEmail.objects.create(
                message_id=mime.get("Message-ID", ""),
                from_email=message.from_email,
                to=", ".join(message.to),
                subject=message.subject,
                text=message.body,
                html=html,
                raw=mime.as_string(),
            )
        return len(email_messages)
