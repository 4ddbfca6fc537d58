from django.db import models


class CapturedEmail(models.Model):
    """An email kept by the local outbox backend instead of being sent (development)."""

    created_at = models.DateTimeField(auto_now_add=True)
    message_id = models.CharField("Message-ID", max_length=255, blank=True)
    from_email = models.CharField("from", max_length=500)
    to = models.TextField()
    subject = models.TextField(blank=True)
    text = models.TextField(blank=True)
    html = models.TextField(blank=True)
    raw = models.TextField(help_text="The whole message as it would have been sent (MIME).")

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "outbox email"

    def __str__(self) -> str:
        return f"{self.subject} → {self.to}"
