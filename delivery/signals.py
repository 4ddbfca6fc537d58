"""anymail's tracking webhooks (/webhooks/anymail/<esp>/tracking/) feed the delivery log."""

from anymail.signals import tracking
from django.dispatch import receiver

from .feedback import tracking_record


@receiver(tracking, dispatch_uid="delivery.tracking")
def on_tracking(sender, event, esp_name, **kwargs):
    tracking_record(esp_name=esp_name, esp_event=event)
