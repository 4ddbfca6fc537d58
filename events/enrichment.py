"""What the delivery of one event needs from its configuration: who receives it, and the data
its templates are rendered with (the event's fields, and enrichment data)."""

from dataclasses import dataclass

from campaign.exceptions import ApplicationError

from .models import Event, Targeting


class TargetingFailed(ApplicationError):
    code = "targeting_failed"


@dataclass(frozen=True)
class Recipient:
    email: str = ""
    mobile_phone: str = ""
    push_token: str = ""
    push_application: str = ""
    push_platform: str = ""


def event_recipient(*, event: Event) -> Recipient:
    """The addresses to send to; raises TargetingFailed when they cannot be determined."""
    if event.configuration.targeting == Targeting.EVENT:
        return Recipient(
            email=event.email,
            mobile_phone=event.mobile_phone,
            push_token=event.push_token,
            push_application=event.push_application,
            push_platform=event.push_platform,
        )
    raise TargetingFailed("Profile-based targeting needs a profile targeting enrichment (not available yet).")


def event_context(*, event: Event) -> dict:
    """The top-level variables of the message's templates for this event."""
    return {"ctx": event.ctx}
