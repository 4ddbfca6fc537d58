from django.conf import settings
from django.db import models


class Integration(models.Model):
    """API credentials of one website or system that calls the trigger API.

    The client id travels as `X-Api-Key`, the secret token as `Authorization: Bearer`.
    Only a SHA-256 digest of the token is stored: the token is random (256 bits), so a
    fast digest is as safe as a slow password hash and keeps the trigger path fast.
    """

    name = models.CharField(max_length=200)
    client_id = models.CharField(max_length=64, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    # First characters of the token, to recognise it without revealing it.
    token_hint = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        permissions = [("revoke_integration", "Can revoke API credentials")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
