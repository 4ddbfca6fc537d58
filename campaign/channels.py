"""The delivery channels and push platforms: shared by profiles (consent per channel, app
subscriptions), events (a configuration's channel) and delivery."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    PUSH = "push", _("Push notification")


class PushPlatform(models.TextChoices):
    # Firebase Cloud Messaging (Android; iOS through FCM as well).
    GCM = "gcm", _("Android (FCM)")
    APNS = "apns", _("iOS (APNs)")
