"""Proofs: the draft of a message rendered with a test profile's data (its event data, and its
profile for a profile-based message) and sent through the real
channel to the profile's address. Recorded as a ProofSend, never as an event: it counts in no
report."""

import logging
import uuid
from dataclasses import replace

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils.translation import gettext

from campaign.exceptions import ApplicationError, ValidationFailed
from events.models import Channel
from messages_app.models import ProofSend, ProofStatus, TestProfile, TestProfileUsage, TransactionalMessage
from messages_app.rendering import RenderedEmail, message_render
from messages_app.selectors import message_content, test_profile_context
from messages_app.services import message_test_profile_errors

from .channels import SendFailure, message_send
from .targeting import Recipient

logger = logging.getLogger(__name__)

# Proofs have their own Message-ID domain part prefix, so they are never taken for events.
PROOF_PKEY_PREFIX = "proof-"


def proof_send(
    *, message: TransactionalMessage, profile: TestProfile, user: AbstractBaseUser | None = None
) -> ProofSend:
    """Render the draft with the test profile's data and send it through the real channel to the
    profile's address. Recorded as a ProofSend, never as an event: it counts in no report."""
    if profile.message_id != message.pk:
        raise ApplicationError(gettext("This test profile belongs to another message."), code="wrong_profile")
    if profile.usage == TestProfileUsage.RENDERING:
        raise ApplicationError(
            gettext("{name} is a rendering profile: it is used for previews, never sent to.").format(
                name=profile.name
            ),
            code="rendering_profile",
        )
    errors = message_test_profile_errors(message=message, profile=profile)
    if errors:
        raise ValidationFailed(
            gettext("{name} cannot receive proofs: ").format(name=profile.name)
            + "; ".join(f"{e.path}: {e.message}" for e in errors),
            errors=errors,
        )
    channel = message.configuration.channel
    content = message_content(message=message)
    recipient = {
        Channel.EMAIL: Recipient(email=profile.address),
        Channel.SMS: Recipient(mobile_phone=profile.address),
        Channel.PUSH: Recipient(
            push_token=profile.address,
            push_application=profile.push_application,
            push_platform=profile.push_platform,
        ),
    }[channel]
    proof = ProofSend(
        message=message,
        test_profile=profile,
        channel=channel,
        address=profile.address,
        content=content,
        sent_by=user,
    )
    try:
        rendered = message_render(
            channel=channel, content=content, context=test_profile_context(message=message, profile=profile)
        )
        if channel == Channel.EMAIL:
            rendered = _proof_subject(rendered)
        provider_id = message_send(
            channel=channel,
            pkey=f"{PROOF_PKEY_PREFIX}{uuid.uuid4().hex}",
            recipient=recipient,
            rendered=rendered,
        )
    except (ApplicationError, SendFailure) as exc:
        # The provider refused it (SendFailure), or it could not be rendered or routed.
        logger.warning("proof of %s to %s not sent: %s", message.message_id, profile.address, exc)
        proof.status, proof.error = ProofStatus.FAILED, str(getattr(exc, "message", exc))[:2000]
    else:
        proof.status, proof.provider_message_id = ProofStatus.SENT, provider_id[:255]
    proof.save()
    return proof


def _proof_subject(rendered: RenderedEmail) -> RenderedEmail:
    return replace(rendered, subject=f"[Proof] {rendered.subject}")
