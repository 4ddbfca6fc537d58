"""What other apps may act on without messages_app calling them (they sit above it)."""

from django.dispatch import Signal

# A configuration was published and its message is ready (created or already there): `message`.
# The marketing app creates the configuration's follow-up when it asks for one.
configuration_published = Signal()
