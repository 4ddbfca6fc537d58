from django.db import models


class Profile(models.Model):
    """A stored recipient: what profile-based events are reconciled with and enriched from."""

    email = models.EmailField(max_length=254, blank=True, db_index=True)
    mobile_phone = models.CharField(
        max_length=16, blank=True, db_index=True, help_text="E.164, e.g. +33612345678"
    )
    # The website's own customer id, the usual join key of profile-based events.
    external_id = models.CharField("external ID", max_length=128, blank=True, db_index=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    language = models.CharField(max_length=16, blank=True, help_text="e.g. en, fr, en-GB")
    attributes = models.JSONField("custom attributes", default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["last_name", "first_name", "pk"]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name} <{self.email}>" if name and self.email else name or self.email or f"Profile {self.pk}"
