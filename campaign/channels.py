"""The delivery channels and push platforms: shared by profiles (consent per channel, app
subscriptions), events (a configuration's channel) and delivery."""

from django.db import models


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    PUSH = "push", "Push notification"


class PushPlatform(models.TextChoices):
    # Firebase Cloud Messaging (Android; iOS through FCM as well).
    GCM = "gcm", "Android (FCM)"
    APNS = "apns", "iOS (APNs)"
