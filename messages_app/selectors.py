import difflib
import json
from dataclasses import dataclass
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.utils.translation import gettext

from events.contract import ctx_typed
from events.models import EnrichmentResource, Targeting
from events.selectors import configuration_structure
from fastpath.versions import per_version
from organisations.selectors import visible_q, writable_q
from profiles.models import Profile
from profiles.selectors import (
    ATTRIBUTES_KEY,
    PROFILE_TEMPLATE_FIELDS,
    attribute_definition_list,
    attribute_definitions,
    profile_data_variables,
    profile_variables,
)
from profiles.unsubscribe import proof_unsubscribe_url

from .analysis import UNSUBSCRIBE_URL
from .models import CONTENT_FIELDS, MessageVersion, TestProfile, TransactionalMessage
from .rendering import VARIANT_PARTS

# The lookup from a message to its organisational unit (its configuration's).
MESSAGE_UNIT = "configuration__unit"


def messages_editable_by(*, user) -> QuerySet[TransactionalMessage]:
    """The messages `user` may edit: the one rule that scopes every marketer-facing list (its
    events and reports): with the change permission, the messages of the user's organisational
    unit and of the units below it (organisations/selectors.py; every message for the
    administrators of all units)."""
    if not user.is_active or not user.has_perm("messages_app.change_transactionalmessage"):
        return TransactionalMessage.objects.none()
    return TransactionalMessage.objects.filter(writable_q(user=user, field=MESSAGE_UNIT))


def messages_visible_to(*, user) -> QuerySet[TransactionalMessage]:
    """The messages `user` sees: those it edits plus, read-only, those of the units above its own."""
    if not user.is_active or not user.has_perm("messages_app.view_transactionalmessage"):
        return TransactionalMessage.objects.none()
    return TransactionalMessage.objects.filter(visible_q(user=user, field=MESSAGE_UNIT))


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "added", "removed" or "context"
    text: str


@dataclass(frozen=True)
class DiffPart:
    name: str
    lines: list[DiffLine]


def _lines(value: object) -> list[str]:
    if value is None or value == "":
        return []
    text = (
        value if isinstance(value, str) else json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
    )
    return text.splitlines()


def _flatten(content: dict) -> dict[str, object]:
    """Content keys in display order (PostgreSQL's jsonb does not keep the saved order); each
    language variant's parts as `variants.<lang>.<part>`."""
    flat = {key: content[key] for key in ("label", *CONTENT_FIELDS) if key in content}
    flat.update({key: value for key, value in content.items() if key not in flat and key != "variants"})
    for language, variant in sorted((content.get("variants") or {}).items()):
        flat.update(
            {f"variants.{language}.{part}": variant[part] for part in VARIANT_PARTS if part in variant}
        )
    return flat


def version_diff(*, old: MessageVersion, new: MessageVersion) -> list[DiffPart]:
    """The parts that differ between two versions, line by line."""
    return content_diff(before=old.content, after=new.content)


def content_diff(*, before: dict, after: dict) -> list[DiffPart]:
    """The parts that differ between two contents (version content, or some of its keys), line by line."""
    before, after = _flatten(before), _flatten(after)
    parts = []
    for name in [*after, *(key for key in before if key not in after)]:
        a, b = _lines(before.get(name)), _lines(after.get(name))
        if a == b:
            continue
        lines: list[DiffLine] = []
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
            if tag == "equal":
                lines.extend(DiffLine("context", text) for text in a[i1:i2])
                continue
            lines.extend(DiffLine("removed", text) for text in a[i1:i2])
            lines.extend(DiffLine("added", text) for text in b[j1:j2])
        parts.append(DiffPart(name, lines))
    return parts


@dataclass(frozen=True)
class PickerField:
    label: str
    insert: str  # the template syntax inserted at the cursor
    kind: str  # "field", "collection", "item field", "enrichment" or "link"
    group: str = ""


def message_picker_fields(*, message: TransactionalMessage) -> list[PickerField]:
    """The fields of the published data structure, with the syntax that reads each one."""
    version = message.configuration.published_version
    if version is None:
        return []
    structure = version.structure
    entries = [
        PickerField(
            f"{f.get('label') or f['field_id']} ({f['field_id']})", f"{{{{ ctx.{f['field_id']} }}}}", "field"
        )
        for f in structure.get("fields") or []
    ]
    item_enrichments: dict[str, list[str]] = {}
    for enrichment in structure.get("enrichments") or []:
        item_enrichments.setdefault(enrichment.get("target") or "ctx", []).append(enrichment)
    for collection in structure.get("collections") or []:
        cid = collection["collection_id"]
        label = collection.get("label") or cid
        first = (collection.get("fields") or [{"field_id": "name"}])[0]["field_id"]
        # The first item stands out, at most 5 are listed, and the else branch is the fallback.
        item = f"{{{{ item.{first} }}}}"
        fallback = gettext("Nothing here yet.")
        loop = (
            f"{{% for item in ctx.{cid}[:5] %}}\n"
            f"  {{% if loop.first %}}<strong>{item}</strong>{{% else %}}{item}{{% endif %}}\n"
            f"{{% else %}}\n  {fallback}\n{{% endfor %}}"
        )
        entries.append(
            PickerField(
                gettext("{collection}: loop with first item, maximum and fallback").format(collection=label),
                loop,
                "collection",
            )
        )
        entries.extend(
            PickerField(
                f"{label} > {f.get('label') or f['field_id']}",
                f"{{{{ item.{f['field_id']} }}}}",
                "item field",
                cid,
            )
            for f in collection.get("fields") or []
        )
        for enrichment in item_enrichments.get(cid, []):
            name = enrichment["name"]
            entries.extend(
                _enrichment_entries(enrichment, f"{label} > {name}", f"item.{name}", "item field", cid)
            )
    collection_ids = {c["collection_id"] for c in structure.get("collections") or []}
    for enrichment in structure.get("enrichments") or []:
        if enrichment.get("target") not in collection_ids:
            name = enrichment["name"]
            entries.extend(_enrichment_entries(enrichment, name, name, "enrichment"))
    if any(enrichment.get("targeting") for enrichment in structure.get("enrichments") or []):
        entries.append(
            PickerField(
                gettext("Unsubscribe link (unsubscribe_url)"),
                f'<a href="{{{{ {UNSUBSCRIBE_URL} }}}}">' + gettext("Unsubscribe") + "</a>",
                "link",
            )
        )
    return entries


def _enrichment_entries(
    enrichment: dict, name: str, path: str, kind: str, group: str = ""
) -> list[PickerField]:
    """Every profile field and declared attribute that a profile enrichment (`path` in templates)
    holds; the enrichment's name alone for another resource."""
    if enrichment.get("resource", EnrichmentResource.PROFILE) != EnrichmentResource.PROFILE:
        return [
            PickerField(gettext("{name} (enrichment)").format(name=name), f"{{{{ {path}. }}}}", kind, group)
        ]

    fields = [
        PickerField(
            f"{name} > {Profile._meta.get_field(field_name).verbose_name} ({field_name})",
            f"{{{{ {path}.{field_name} }}}}",
            kind,
            group,
        )
        for field_name in PROFILE_TEMPLATE_FIELDS
    ]
    fields += [
        PickerField(
            f"{name} > {definition.label or definition.name} ({definition.get_type_display()})",
            f"{{{{ {path}.{ATTRIBUTES_KEY}.{definition.name} }}}}",
            kind,
            group,
        )
        for definition in attribute_definition_list()
    ]
    return fields


@per_version(maxsize=256)
def version_content(*, version_pk: int, published_at: datetime) -> dict:
    """The content of a published version, read once per process (fastpath/versions.py: a
    published version never changes). Callers must not change the dict they get."""
    return MessageVersion.objects.values_list("content", flat=True).get(pk=version_pk)


def message_content(*, message: TransactionalMessage) -> dict:
    """The draft as version content: the message's fields and its language variants."""
    content = {name: getattr(message, name) for name in CONTENT_FIELDS}
    content["variants"] = {
        variant.language: {part: getattr(variant, part) for part in VARIANT_PARTS}
        for variant in message.variants.all()
    }
    return content


def message_has_unpublished_changes(*, message: TransactionalMessage) -> bool:
    """True when publishing would change what is sent: never published, or the draft differs from
    the published version."""
    version = message.published_version
    if version is None:
        return True
    # Compared as stored (JSON), so that a tuple and a list, or a date and its text, are equal.
    draft = json.loads(json.dumps(message_content(message=message), cls=DjangoJSONEncoder))
    return draft != version.content


def _targeting_enrichment_name(*, message: TransactionalMessage) -> str | None:
    config = message.configuration
    if config.targeting != Targeting.PROFILE:
        return None
    version = config.published_version
    structure = version.structure if version is not None else configuration_structure(config=config)
    return next((e["name"] for e in structure.get("enrichments") or [] if e.get("targeting")), None)


def test_profile_context(*, message: TransactionalMessage, profile: TestProfile | None) -> dict:
    """What previews and proofs render with: the test profile's event data as `ctx` and, for a
    profile-based message, its profile (stored, or its own profile data) under the targeting
    enrichment's name, as the worker gives the targeted profile."""
    data = profile.event_data if profile is not None and isinstance(profile.event_data, dict) else {}
    version = message.configuration.published_version
    if version is not None:
        # As the worker gives them: decimals as Decimal and integers as int, sent as numbers or text.
        data = ctx_typed(structure=version.structure, ctx=data)
    context: dict = {"ctx": data}
    name = _targeting_enrichment_name(message=message)
    if name is None:
        return context
    # Never a real profile's link: a proof's recipient must not unsubscribe anyone.
    context[UNSUBSCRIBE_URL] = proof_unsubscribe_url()
    if profile is None:
        return context
    definitions = attribute_definitions()
    if profile.profile is not None:
        context[name] = profile_variables(profile=profile.profile, definitions=definitions)
    elif isinstance(profile.profile_data, dict) and profile.profile_data:
        context[name] = profile_data_variables(data=profile.profile_data, definitions=definitions)
    return context
