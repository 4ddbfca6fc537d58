from django.conf import settings
from django.db import models


class MessageStatus(models.TextChoices):
    # Being edited; events of its configuration are not sent (routingFailed).
    DRAFT = "draft", "Draft"
    # Live: events are rendered with the published version.
    PUBLISHED = "published", "Published"


class TransactionalMessage(models.Model):
    """The message of one event configuration (id `RT` + event id); the fields are the draft."""

    message_id = models.CharField("ID", max_length=80, unique=True, editable=False)
    configuration = models.OneToOneField(
        "events.EventConfiguration", on_delete=models.CASCADE, related_name="message", editable=False
    )
    label = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=MessageStatus.choices, default=MessageStatus.DRAFT)
    sender_name = models.CharField(max_length=200, blank=True)
    sender_email = models.EmailField(blank=True, help_text="Empty: the platform's default sender.")
    subject = models.CharField(max_length=998, blank=True)
    html = models.TextField("HTML content", blank=True)
    text = models.TextField("text content", blank=True)
    # The version the worker renders; None while not published.
    published_version = models.ForeignKey(
        "MessageVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)
    modified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["label"]
        permissions = [("publish_transactionalmessage", "Can publish and unpublish transactional messages")]

    def __str__(self) -> str:
        return f"{self.label} ({self.message_id})"


class MessageVersion(models.Model):
    """An immutable snapshot of the content, frozen at publish."""

    message = models.ForeignKey(TransactionalMessage, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    content = models.JSONField()
    published_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["message", "number"], name="unique_message_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.message.message_id} v{self.number}"
