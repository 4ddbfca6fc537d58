"""What a version's content holds: the templated parts of each channel, the parts a language
variant may override, the parts written in HTML (autoescaped), and the missing-value policies.
"""

from django.utils.translation import gettext_lazy as _


class MissingValuePolicy:
    # The event is not sent (deliveryFailed, with the missing value named).
    FAIL = "fail"
    # The missing value is rendered as nothing.
    EMPTY = "empty"
    # The missing value is replaced by the message's default text.
    DEFAULT = "default"

    choices = [
        (FAIL, _("Fail the event")),
        (EMPTY, _("Render nothing")),
        (DEFAULT, _("Use the default text")),
    ]


# The templated parts of a version's content, per channel.
CHANNEL_PARTS = {
    "email": ("subject", "preheader", "html", "text"),
    "sms": ("sms_text",),
    "push": ("push_title", "push_body", "push_deep_link"),
}
# The parts a language variant may override (the sender and push settings are per message).
VARIANT_PARTS = ("subject", "preheader", "html", "text", "sms_text", "push_title", "push_body")
HTML_PARTS = frozenset({"html", "preheader"})
