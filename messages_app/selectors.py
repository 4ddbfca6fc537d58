import difflib
import json
from dataclasses import dataclass
from datetime import datetime

from fastpath.versions import per_version

from .models import CONTENT_FIELDS, MessageVersion, TransactionalMessage
from .rendering import VARIANT_PARTS


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
    flat = {key: content[key] for key in CONTENT_FIELDS if key in content}
    flat.update({key: value for key, value in content.items() if key not in flat and key != "variants"})
    for language, variant in sorted((content.get("variants") or {}).items()):
        flat.update(
            {f"variants.{language}.{part}": variant[part] for part in VARIANT_PARTS if part in variant}
        )
    return flat


def version_diff(*, old: MessageVersion, new: MessageVersion) -> list[DiffPart]:
    """The parts that differ between two versions, line by line."""
    before, after = _flatten(old.content), _flatten(new.content)
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
    kind: str  # "field", "collection", "item field" or "enrichment"
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
        item_enrichments.setdefault(enrichment.get("target") or "ctx", []).append(enrichment["name"])
    for collection in structure.get("collections") or []:
        cid = collection["collection_id"]
        label = collection.get("label") or cid
        first = (collection.get("fields") or [{"field_id": "name"}])[0]["field_id"]
        # The first item stands out, at most 5 are listed, and the else branch is the fallback.
        item = f"{{{{ item.{first} }}}}"
        loop = (
            f"{{% for item in ctx.{cid}[:5] %}}\n"
            f"  {{% if loop.first %}}<strong>{item}</strong>{{% else %}}{item}{{% endif %}}\n"
            f"{{% else %}}\n  Nothing here yet.\n{{% endfor %}}"
        )
        entries.append(
            PickerField(f"{label}: loop with first item, maximum and fallback", loop, "collection")
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
        entries.extend(
            PickerField(f"{label} > {name} (enrichment)", f"{{{{ item.{name}. }}}}", "item field", cid)
            for name in item_enrichments.get(cid, [])
        )
    collection_ids = {c["collection_id"] for c in structure.get("collections") or []}
    entries.extend(
        PickerField(f"{e['name']} (enrichment)", f"{{{{ {e['name']}. }}}}", "enrichment")
        for e in structure.get("enrichments") or []
        if e.get("target") not in collection_ids
    )
    return entries


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
