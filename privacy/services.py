"""Privacy requests: export everything held about a profile, erase it. Each run is recorded as a
PrivacyRequest (who, when, what, the profile named by a hash).

Erasing is one transaction across the apps' tables: it is the one operation that must reach
every row holding a profile's personal data, so its writes sit here, together, rather than as a
function per app that a later table could be forgotten by (the test searching every text and JSON
column of every table keeps this list complete).
"""

import logging

from django.contrib.admin.models import LogEntry
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils.translation import gettext

from audit.models import AuditAction
from audit.services import audit_record
from delivery.models import (
    AddressQuarantine,
    CapturedEmail,
    CapturedMessage,
    DeliveryAttempt,
    DenylistEntry,
    Exclusion,
    TrackingEvent,
)
from events.models import Event
from integrations.models import CallbackAttempt, IdempotencyKey
from messages_app.models import ProofSend, TestProfile
from profiles.models import Profile, ProfileImportChunk, ProfileImportRow
from profiles.services import suppression_add

from .models import PrivacyRequest, PrivacyRequestKind, PrivacyRequestOutcome
from .selectors import profile_addresses, profile_events, profile_personal_data, subject_reference

logger = logging.getLogger(__name__)

ERASED = "erased"


def _record(
    *,
    kind: str,
    reference: str,
    user: AbstractBaseUser | None,
    operator: str,
    outcome: str,
    detail: dict,
    error: str = "",
) -> PrivacyRequest:
    return PrivacyRequest.objects.create(
        kind=kind,
        subject_hash=reference,
        outcome=outcome,
        detail=detail,
        error=error[:4000],
        requested_by=user,
        requested_by_name=(operator or (user.get_username() if user else ""))[:150],
    )


def profile_export(*, profile: Profile, user: AbstractBaseUser | None = None, operator: str = "") -> dict:
    """Everything held about the profile as one JSON-ready document; the request is recorded."""
    document = profile_personal_data(profile=profile)
    detail = {"events": len(document["events"]), "subscriptions": len(document["subscriptions"])}
    reference = subject_reference(profile=profile)
    with transaction.atomic():
        _record(
            kind=PrivacyRequestKind.EXPORT,
            reference=reference,
            user=user,
            operator=operator,
            outcome=PrivacyRequestOutcome.DONE,
            detail=detail,
        )
        _audit(AuditAction.PRIVACY_EXPORTED, profile=profile, reference=reference, detail=detail, user=user)
    return document


def _audit(action: str, *, profile: Profile, reference: str, detail: dict, user) -> None:
    # Never personal data in the log: the profile is named by the hash of its address.
    audit_record(
        action=action,
        object_type="profiles.profile",
        object_id=profile.pk,
        object_label=reference,
        after=detail,
        user=user,
    )


def profile_erase(
    *, profile: Profile, user: AbstractBaseUser | None = None, operator: str = ""
) -> PrivacyRequest:
    """Erase the profile's personal data everywhere, in one transaction, and suppress its
    addresses (kept as hashes) so that no later import or event reaches them: the profile and its
    subscriptions and devices are deleted; the events that concern it keep their status and dates
    but lose their payload and addresses; their logs (delivery attempts, exclusions, callback
    attempts) lose the addresses, answers and errors; provider feedback, captured messages,
    quarantine and denylist entries of its addresses are deleted, and so are proofs to them and the
    rows and file blocks of imports not yet applied, and the stored API answers (idempotency keys)
    that echo its addresses. Recorded either way; on failure nothing is changed."""
    reference = subject_reference(profile=profile)
    try:
        with transaction.atomic():
            profile_id = profile.pk
            detail = _erase(profile)
            profile.pk = profile_id
            _audit(AuditAction.PRIVACY_ERASED, profile=profile, reference=reference, detail=detail, user=user)
    except Exception as exc:
        logger.exception("erasing profile %s failed", profile.pk)
        return _record(
            kind=PrivacyRequestKind.ERASE,
            reference=reference,
            user=user,
            operator=operator,
            outcome=PrivacyRequestOutcome.FAILED,
            detail={},
            error=gettext("Nothing was erased: {error}").format(error=exc.__class__.__name__),
        )
    return _record(
        kind=PrivacyRequestKind.ERASE,
        reference=reference,
        user=user,
        operator=operator,
        outcome=PrivacyRequestOutcome.DONE,
        detail=detail,
    )


def _binary_holding(model, field: str, words: list[str]) -> list[int]:
    """The rows of a binary column (a stored answer, a block of an uploaded file) holding one of
    the words, any case. Such rows live for hours (idempotency keys, imports being checked), so
    reading them through is bounded."""
    needles = [word.lower().encode() for word in words]
    found = []
    rows = model.objects.exclude(**{f"{field}__isnull": True}).values_list("pk", field)
    for pk, value in rows.iterator(chunk_size=500):
        data = bytes(value).lower()
        if any(needle in data for needle in needles):
            found.append(pk)
    return found


def _erase(profile: Profile) -> dict[str, int]:
    profile = Profile.objects.select_for_update().get(pk=profile.pk)
    addresses = profile_addresses(profile=profile)
    every = [address for values in addresses.values() for address in values]
    words = [value for value in (profile.email, profile.mobile_phone, profile.external_id) if value.strip()]
    event_pks = list(profile_events(profile=profile).values_list("pk", flat=True))
    note = gettext("Personal data erased by a privacy request.")
    detail: dict[str, int] = {}

    detail["events"] = Event.objects.filter(pk__in=event_pks).update(
        email="", mobile_phone="", push_token="", ctx={}, error=note
    )
    # The logs outlive their events: those of the profile's events already deleted are found by
    # the addresses they were sent to, and through the PKeys these keep, their callbacks and feedback.
    gone = Q(event__isnull=True, address__in=every)
    gone_pkeys = {
        *DeliveryAttempt.objects.filter(gone).exclude(event_pkey="").values_list("event_pkey", flat=True),
        *Exclusion.objects.filter(gone).exclude(event_pkey="").values_list("event_pkey", flat=True),
    }
    of_events = Q(event__in=event_pks) | Q(event__isnull=True, event_pkey__in=gone_pkeys)
    detail["delivery_attempts"] = DeliveryAttempt.objects.filter(of_events | Q(address__in=every)).update(
        address="", provider_response="", error=""
    )
    detail["exclusions"] = Exclusion.objects.filter(of_events | Q(address__in=every)).update(
        address="", detail=""
    )
    detail["callback_attempts"] = CallbackAttempt.objects.filter(of_events).update(error="")
    detail["tracking_events"] = TrackingEvent.objects.filter(
        of_events | Q(recipient__in=addresses["email"])
    ).delete()[0]
    captured_emails = Q(pk__in=[])
    for address in addresses["email"]:
        captured_emails |= Q(to__icontains=address) | Q(raw__icontains=address)
    detail["captured_emails"] = CapturedEmail.objects.filter(captured_emails).delete()[0]
    detail["captured_messages"] = CapturedMessage.objects.filter(to__in=every).delete()[0]
    detail["quarantine"] = AddressQuarantine.objects.filter(address__in=every).delete()[0]
    detail["denylist"] = DenylistEntry.objects.filter(address__in=every).delete()[0]
    detail["proofs"] = ProofSend.objects.filter(address__in=every).delete()[0]
    detail["test_profiles"] = TestProfile.objects.filter(address__in=every).update(
        address="", profile_data={}, event_data={}
    )
    staged = Q(key__in=[word.lower() for word in words] + words)
    for word in words:
        staged |= Q(data_text__icontains=word)
    detail["import_rows"] = (
        ProfileImportRow.objects.alias(data_text=Cast("data", output_field=TextField()))
        .filter(staged)
        .delete()[0]
    )
    detail["idempotency_keys"] = IdempotencyKey.objects.filter(
        pk__in=_binary_holding(IdempotencyKey, "response_body", words)
    ).delete()[0]
    detail["import_file_blocks"] = ProfileImportChunk.objects.filter(
        pk__in=_binary_holding(ProfileImportChunk, "data", words)
    ).delete()[0]
    detail["admin_log"] = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Profile), object_id=str(profile.pk)
    ).update(object_repr=gettext("Erased profile"), change_message="")
    for channel, values in addresses.items():
        for address in values:
            suppression_add(channel=channel, address=address)
    detail["suppressed_addresses"] = len(every)
    detail["profiles"] = 1
    profile.delete()
    return detail
