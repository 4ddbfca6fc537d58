"""Packages: event configurations with their messages as one JSON document, to move them between
installations. The format is documented in docs/packages.md.

Importing never publishes: an existing configuration (same ID) gets its draft data structure and
its message's draft content replaced, and keeps serving its published version until someone
publishes again.
"""

from collections.abc import Iterable

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from audit.context import audit_quiet
from audit.models import AuditAction
from audit.services import audit_record
from campaign.exceptions import ApplicationError, FieldError, ValidationFailed
from events.contract import structure_check
from events.models import Channel, EventConfiguration, Targeting
from events.selectors import configuration_structure
from events.services import (
    event_config_create,
    event_config_structure_set,
    event_config_update,
    event_id_normalize,
)
from organisations.models import Unit

from .messages import message_ensure_for_configuration, message_update

PACKAGE_FORMAT = "message-center/package"
PACKAGE_VERSION = 1
MESSAGE_KEYS = ("label", "sender_name", "sender_email", "subject", "html", "text")


def package_export(*, configs: Iterable[EventConfiguration]) -> dict:
    """The package of these configurations, each with its message's draft content."""
    entries = []
    for config in configs:
        message = getattr(config, "message", None)
        entries.append(
            {
                "event_id": config.event_id,
                "label": config.label,
                "channel": config.channel,
                "targeting": config.targeting,
                "structure": configuration_structure(config=config),
                "message": {key: getattr(message, key) for key in MESSAGE_KEYS} if message else None,
            }
        )
    return {
        "format": PACKAGE_FORMAT,
        "version": PACKAGE_VERSION,
        "exported_at": timezone.now().isoformat(),
        "configurations": entries,
    }


def _check_entry(entry: object, path: str) -> list[FieldError]:
    if not isinstance(entry, dict):
        return [FieldError(path, gettext("Expected an object describing an event configuration."))]
    errors = []
    event_id = None
    try:
        event_id = event_id_normalize(entry.get("event_id") if isinstance(entry.get("event_id"), str) else "")
    except ApplicationError as exc:
        errors.append(FieldError(f"{path}.event_id", exc.message))
    if not isinstance(entry.get("label"), str) or not entry["label"].strip():
        errors.append(FieldError(f"{path}.label", gettext("The label is required.")))
    if entry.get("channel") not in Channel.values:
        errors.append(
            FieldError(
                f"{path}.channel",
                gettext("Expected one of {values}.").format(values=", ".join(Channel.values)),
            )
        )
    if entry.get("targeting") not in Targeting.values:
        errors.append(
            FieldError(
                f"{path}.targeting",
                gettext("Expected one of {values}.").format(values=", ".join(Targeting.values)),
            )
        )
    else:
        errors.extend(
            FieldError(f"{path}.structure.{e.path}", e.message)
            for e in structure_check(
                structure=entry.get("structure"), targeting=entry["targeting"], for_publish=False
            )
        )
    message = entry.get("message")
    if message is not None:
        if not isinstance(message, dict):
            errors.append(
                FieldError(
                    f"{path}.message", gettext("Expected an object with the message's content, or null.")
                )
            )
        else:
            errors.extend(
                FieldError(f"{path}.message.{key}", gettext("Expected a text."))
                for key in MESSAGE_KEYS
                if not isinstance(message.get(key, ""), str)
            )
            errors.extend(
                FieldError(f"{path}.message.{key}", gettext("Unknown key."))
                for key in message
                if key not in MESSAGE_KEYS
            )
    existing = EventConfiguration.objects.filter(event_id=event_id).first() if event_id else None
    if existing is not None:
        for key, name in (("channel", "channel"), ("targeting", "targeting dimension")):
            if entry.get(key) != getattr(existing, key):
                errors.append(
                    FieldError(
                        f"{path}.{key}",
                        gettext(
                            "{event_id} exists here with the {name} {value!r}, which cannot change."
                        ).format(event_id=existing.event_id, name=name, value=getattr(existing, key)),
                    )
                )
    return errors


def package_check(*, document: object) -> list[FieldError]:
    """Every problem of the document, with its path (`configurations[0].structure.fields[2].type`)."""
    if not isinstance(document, dict):
        return [FieldError("", gettext("Expected a JSON object."))]
    if document.get("format") != PACKAGE_FORMAT:
        return [
            FieldError(
                "format",
                gettext("Not a Message Center package (expected format {format!r}).").format(
                    format=PACKAGE_FORMAT
                ),
            )
        ]
    if document.get("version") != PACKAGE_VERSION:
        return [
            FieldError(
                "version",
                gettext("Unsupported package version; this installation reads {version}.").format(
                    version=PACKAGE_VERSION
                ),
            )
        ]
    entries = document.get("configurations")
    if not isinstance(entries, list):
        return [FieldError("configurations", gettext("Expected a list of event configurations."))]
    errors = []
    for index, entry in enumerate(entries):
        errors.extend(_check_entry(entry, f"configurations[{index}]"))
    ids = [e.get("event_id") for e in entries if isinstance(e, dict)]
    errors.extend(
        FieldError("configurations", gettext("{value} appears twice.").format(value=value))
        for value in {i for i in ids if ids.count(i) > 1}
    )
    return errors


@transaction.atomic
def package_import(
    *, document: object, user: AbstractBaseUser | None = None, unit: Unit | None = None
) -> list[tuple[EventConfiguration, bool]]:
    """Create or update (draft only) every configuration of the package and its message's draft;
    all or nothing. Returns (configuration, created) pairs. With `unit`, new configurations go
    to it and only configurations of it or below it may be updated."""

    errors = package_check(document=document)
    if errors:
        raise ValidationFailed(
            gettext("The package cannot be imported: ")
            + "; ".join(f"{e.path}: {e.message}" for e in errors[:10]),
            code="package_invalid",
            errors=errors,
        )
    # One action, recorded once: what the package created and updated, not each step.
    with audit_quiet():
        results = _package_apply(document=document, user=user, unit=unit)
    audit_record(
        action=AuditAction.PACKAGE_IMPORTED,
        object_type="messages_app.package",
        object_label=", ".join(config.event_id for config, _ in results)[:300],
        after={
            "created": [config.event_id for config, created in results if created],
            "updated": [config.event_id for config, created in results if not created],
        },
        user=user,
    )
    return results


def _package_apply(
    *, document: dict, user: AbstractBaseUser | None, unit: Unit | None
) -> list[tuple[EventConfiguration, bool]]:
    results = []
    for entry in document["configurations"]:
        event_id = event_id_normalize(entry["event_id"])
        config = EventConfiguration.objects.filter(event_id=event_id).first()
        created = config is None
        if not created and unit is not None and not config.unit.is_within(unit):
            raise ApplicationError(
                gettext("%(event_id)s belongs to another organisational unit: it cannot be updated here.")
                % {"event_id": event_id},
                code="configuration_not_writable",
            )
        if created:
            config = event_config_create(
                event_id=event_id,
                label=entry["label"],
                channel=entry["channel"],
                targeting=entry["targeting"],
                user=user,
                unit=unit,
            )
        else:
            event_config_update(config=config, user=user, label=entry["label"])
        event_config_structure_set(config=config, structure=entry["structure"], user=user)
        if entry.get("message") is not None:
            message = message_ensure_for_configuration(config=config)
            message_update(message=message, user=user, **entry["message"])
        results.append((config, created))
    return results
