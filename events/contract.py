"""The published data structure as a contract.

At publish the structure (`{"fields", "collections", "enrichments"}`, see `structure_check`) is
checked, then compiled once into a standard, self-contained JSON Schema (draft 2020-12) of the
payload's `ctx`. The trigger API validates each payload with `ctx_checker` (compiled once per
schema: a fast pass by fastjsonschema, jsonschema for the errors), which reports every
bad field with its path (`ctx.items[2].price`), the expected type and the value's problem.
"""

import json
import re
from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache

import fastjsonschema
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator, validate_email
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from campaign.exceptions import FieldError

from .models import (
    FIELD_ID_RE,
    LANGUAGE_FIELD_ID,
    PROFILE_JOIN_FIELDS,
    EnrichmentResource,
    FieldType,
    Targeting,
)

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
EMAIL_MAX_LENGTH = 254
ID_MAX_LENGTH = 64
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:\d{2})$")

# --- Checking a data structure -------------------------------------------------------------


def _check_id(value: object, path: str, what: str, errors: list[FieldError]) -> bool:
    if not isinstance(value, str) or not FIELD_ID_RE.match(value):
        message = gettext("The {what} {value!r} must use letters, digits and '_', not starting with a digit.")
        errors.append(FieldError(path, message.format(what=what, value=value)))
        return False
    if len(value) > ID_MAX_LENGTH:
        message = gettext("The {what} {value!r} is longer than {max} characters.")
        errors.append(FieldError(path, message.format(what=what, value=value, max=ID_MAX_LENGTH)))
        return False
    return True


def _check_field(field: object, path: str, errors: list[FieldError], *, in_collection: str = "") -> None:
    if not isinstance(field, dict):
        errors.append(FieldError(path, gettext("Expected an object describing a field.")))
        return
    if "fields" in field or field.get("type") == "collection":
        errors.append(
            FieldError(
                path,
                gettext(
                    "Collections cannot be nested: {field!r} would be a collection inside "
                    "the collection {collection!r}. Model it as a separate collection of the event."
                ).format(field=field.get("field_id"), collection=in_collection),
            )
            if in_collection
            else FieldError(path, gettext("A collection is not a field: declare it among the collections."))
        )
        return
    _check_id(field.get("field_id"), f"{path}.field_id", gettext("field ID"), errors)
    field_type = field.get("type")
    if field_type not in FieldType.values:
        expected = ", ".join(FieldType.values)
        message = gettext("Unknown type {type!r}; expected one of {expected}.")
        errors.append(FieldError(f"{path}.type", message.format(type=field_type, expected=expected)))
        return
    max_length = field.get("max_length")
    if (
        field_type == FieldType.TEXT
        and max_length is not None
        and (not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1)
    ):
        errors.append(
            FieldError(f"{path}.max_length", gettext("The maximum length must be a positive integer."))
        )
    if field_type == FieldType.ENUMERATION:
        values = field.get("allowed_values")
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
            errors.append(
                FieldError(
                    f"{path}.allowed_values", gettext("An enumeration needs at least one allowed value.")
                )
            )
        elif len(set(values)) != len(values):
            errors.append(
                FieldError(f"{path}.allowed_values", gettext("The allowed values must be distinct."))
            )
    if field.get("field_id") == LANGUAGE_FIELD_ID:
        if in_collection:
            errors.append(
                FieldError(
                    path,
                    gettext("{field} selects the message's language: a field of the event.").format(
                        field=LANGUAGE_FIELD_ID
                    ),
                )
            )
        elif field_type not in (FieldType.TEXT, FieldType.ENUMERATION):
            errors.append(
                FieldError(
                    f"{path}.type",
                    gettext("{field} holds a language code: text or enumeration.").format(
                        field=LANGUAGE_FIELD_ID
                    ),
                )
            )


def _check_unique(ids: list[str], path: str, errors: list[FieldError]) -> None:
    seen: set[str] = set()
    for value in ids:
        if value in seen:
            errors.append(
                FieldError(path, gettext("The ID {id!r} is used twice; IDs must be unique.").format(id=value))
            )
        seen.add(value)


def structure_check(*, structure: object, targeting: str, for_publish: bool = True) -> list[FieldError]:
    """Every reason this data structure cannot be published, as (path, message) pairs. With
    `for_publish=False` (a draft being stored), a missing targeting enrichment and a collection
    without fields are not yet errors."""
    if not isinstance(structure, dict):
        return [
            FieldError("structure", gettext("Expected an object with fields, collections and enrichments."))
        ]
    errors: list[FieldError] = []
    fields = structure.get("fields") or []
    collections = structure.get("collections") or []
    enrichments = structure.get("enrichments") or []
    for index, field in enumerate(fields):
        _check_field(field, f"fields[{index}]", errors)
    scopes: dict[str, set[str]] = {"event": {f.get("field_id") for f in fields if isinstance(f, dict)}}
    required: dict[str, set[str]] = {
        "event": {f.get("field_id") for f in fields if isinstance(f, dict) and f.get("required")}
    }
    for index, collection in enumerate(collections):
        path = f"collections[{index}]"
        if not isinstance(collection, dict):
            errors.append(FieldError(path, gettext("Expected an object describing a collection.")))
            continue
        collection_id = collection.get("collection_id")
        _check_id(collection_id, f"{path}.collection_id", gettext("collection ID"), errors)
        items = collection.get("fields") or []
        # A draft may hold a collection without fields yet (fields are added to it later).
        if not items and for_publish:
            message = gettext("The collection {id!r} needs at least one field.").format(id=collection_id)
            errors.append(FieldError(f"{path}.fields", message))
        for item_index, field in enumerate(items):
            _check_field(field, f"{path}.fields[{item_index}]", errors, in_collection=str(collection_id))
        _check_unique([f.get("field_id") for f in items if isinstance(f, dict)], f"{path}.fields", errors)
        low, high = collection.get("min_items"), collection.get("max_items")
        for name, bound in (("min_items", low), ("max_items", high)):
            if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool) or bound < 0):
                errors.append(
                    FieldError(f"{path}.{name}", gettext("Expected a whole number of items (0 or more)."))
                )
        if isinstance(low, int) and isinstance(high, int) and low > high:
            message = gettext("The maximum ({high}) is below the minimum ({low}).").format(high=high, low=low)
            errors.append(FieldError(f"{path}.max_items", message))
        scopes[str(collection_id)] = {f.get("field_id") for f in items if isinstance(f, dict)}
        required[str(collection_id)] = {
            f.get("field_id") for f in items if isinstance(f, dict) and f.get("required")
        }
    _check_unique(
        [f.get("field_id") for f in fields if isinstance(f, dict)]
        + [c.get("collection_id") for c in collections if isinstance(c, dict)],
        "fields",
        errors,
    )
    _check_enrichments(enrichments, scopes, required, targeting, errors, for_publish=for_publish)
    return errors


def _check_enrichments(
    enrichments: list,
    scopes: dict,
    required: dict,
    targeting: str,
    errors: list[FieldError],
    *,
    for_publish: bool,
) -> None:
    names: list[str] = []
    targeting_paths: list[str] = []
    for index, enrichment in enumerate(enrichments):
        path = f"enrichments[{index}]"
        if not isinstance(enrichment, dict):
            errors.append(FieldError(path, gettext("Expected an object describing an enrichment.")))
            continue
        name = enrichment.get("name")
        if _check_id(name, f"{path}.name", gettext("enrichment name"), errors):
            names.append(name)
        if name == "ctx":
            message = gettext("'ctx' is the event's own data; choose another name.")
            errors.append(FieldError(f"{path}.name", message))
        target = enrichment.get("target")
        if target not in scopes:
            message = gettext("{target!r} is neither 'event' nor a collection ID.").format(target=target)
            errors.append(FieldError(f"{path}.target", message))
            continue
        if target != "event" and name in scopes[target]:
            message = gettext("{name!r} is already a field of the items of {target!r}.")
            errors.append(FieldError(f"{path}.name", message.format(name=name, target=target)))
        if enrichment.get("resource") != EnrichmentResource.PROFILE:
            errors.append(FieldError(f"{path}.resource", gettext("Only profiles can be joined for now.")))
        join = enrichment.get("join")
        if not isinstance(join, list) or len(join) != 1:
            message = gettext("The join needs exactly one event field -> profile field pair.")
            errors.append(FieldError(f"{path}.join", message))
            continue
        profile_fields = {name for name, _ in PROFILE_JOIN_FIELDS}
        for join_index, condition in enumerate(join):
            condition = condition if isinstance(condition, dict) else {}
            event_field = condition.get("event_field")
            if event_field not in scopes[target]:
                message = (
                    gettext("{field!r} is not a field of the event.")
                    if target == "event"
                    else gettext("{field!r} is not a field of the items of {target!r}.")
                )
                errors.append(
                    FieldError(
                        f"{path}.join[{join_index}].event_field",
                        message.format(field=event_field, target=target),
                    )
                )
            if condition.get("profile_field") not in profile_fields:
                errors.append(
                    FieldError(
                        f"{path}.join[{join_index}].profile_field",
                        gettext("Expected one of {values}.").format(values=", ".join(sorted(profile_fields))),
                    )
                )
        if enrichment.get("targeting"):
            targeting_paths.append(path)
            if target != "event":
                message = gettext("The targeting enrichment joins the event, not an item.")
                errors.append(FieldError(f"{path}.targeting", message))
            elif any(c.get("event_field") not in required["event"] for c in join if isinstance(c, dict)):
                errors.append(
                    FieldError(
                        f"{path}.join",
                        gettext(
                            "The targeting enrichment's event fields must be required: "
                            "without them the recipient cannot be found."
                        ),
                    )
                )
    _check_unique(names, "enrichments", errors)
    if targeting == Targeting.PROFILE and not targeting_paths and for_publish:
        errors.append(
            FieldError(
                "enrichments",
                gettext(
                    "A profile-based configuration needs a profile enrichment chosen as targeting enrichment."
                ),
            )
        )
    elif targeting == Targeting.EVENT and targeting_paths:
        errors.append(
            FieldError(
                f"{targeting_paths[0]}.targeting",
                gettext(
                    "Only profile-based configurations have a targeting enrichment: "
                    "the address is in the event."
                ),
            )
        )
    if len(targeting_paths) > 1:
        errors.append(FieldError(targeting_paths[1], gettext("Choose only one targeting enrichment.")))


# --- Compiling it into a JSON Schema ---------------------------------------------------------


def _field_schema(field: dict) -> dict:
    field_type = field["type"]
    schema: dict = {"title": field.get("label") or field["field_id"]}
    if field_type == FieldType.TEXT:
        schema["type"] = "string"
        if field.get("max_length"):
            schema["maxLength"] = field["max_length"]
    elif field_type == FieldType.INTEGER:
        schema["type"] = "integer"
    elif field_type == FieldType.DECIMAL:
        schema["type"] = "number"
    elif field_type == FieldType.BOOLEAN:
        schema["type"] = "boolean"
    elif field_type == FieldType.DATE:
        schema.update(type="string", format="date")
    elif field_type == FieldType.DATETIME:
        schema.update(type="string", format="date-time")
    elif field_type == FieldType.EMAIL:
        schema.update(type="string", format="email", maxLength=EMAIL_MAX_LENGTH)
    elif field_type == FieldType.PHONE:
        schema.update(type="string", pattern=E164_PATTERN)
    elif field_type == FieldType.URL:
        schema.update(type="string", format="uri")
    elif field_type == FieldType.ENUMERATION:
        schema.update(type="string", enum=list(field["allowed_values"]))
    if not field.get("required"):
        # An optional field may be omitted or sent as null.
        schema["type"] = [schema["type"], "null"]
        if "enum" in schema:
            schema["enum"] = [*schema["enum"], None]
    return schema


def _object_schema(fields: list[dict]) -> dict:
    return {
        "type": "object",
        "properties": {field["field_id"]: _field_schema(field) for field in fields},
        "required": [field["field_id"] for field in fields if field.get("required")],
        "additionalProperties": False,
    }


def ctx_schema_build(*, fields: list[dict], collections: list[dict] = ()) -> dict:
    """The JSON Schema of `ctx` for a checked structure (see `structure_check`)."""
    schema = _object_schema(fields)
    for collection in collections:
        array: dict = {
            "title": collection.get("label") or collection["collection_id"],
            "type": "array",
            "items": _object_schema(collection["fields"]),
        }
        if collection.get("min_items") is not None:
            array["minItems"] = collection["min_items"]
        if collection.get("max_items") is not None:
            array["maxItems"] = collection["max_items"]
        schema["properties"][collection["collection_id"]] = array
        # A collection that must hold items must be sent; otherwise it may be omitted.
        if collection.get("min_items"):
            schema["required"].append(collection["collection_id"])
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# --- Validating a payload ----------------------------------------------------------------------

# Each check applies to texts only, as JSON Schema formats do: `type` already refuses other values,
# and null is allowed for optional fields.
FORMATS = FormatChecker(formats=())


@FORMATS.checks("date")
def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE_RE.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


@FORMATS.checks("date-time")
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATETIME_RE.match(value):
        return False
    try:
        datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return False
    return True


@FORMATS.checks("email")
def _is_email(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        validate_email(value)
    except DjangoValidationError:
        return False
    return True


_url_validator = URLValidator(schemes=["http", "https"])


@FORMATS.checks("uri")
def _is_url(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        _url_validator(value)
    except DjangoValidationError:
        return False
    return True


@lru_cache(maxsize=1024)
def _validator(schema_json: str) -> Draft202012Validator:
    # Keyed by the schema text, not the version id: ids of rolled-back rows can be reused.
    return Draft202012Validator(json.loads(schema_json), format_checker=FORMATS)


@lru_cache(maxsize=1024)
def _passes(schema_json: str):
    """The schema compiled to Python code by fastjsonschema (ten times faster than jsonschema's
    interpreter), with the same format checks: the trigger path's check of a valid payload. Only a
    pass is trusted; a payload it refuses is judged again by jsonschema, whose verdict and error
    paths are the contract (`tests/events/test_contract_fast_path.py` compares the two)."""
    schema = json.loads(schema_json)
    schema.pop("$schema", None)  # 2020-12 is unknown to fastjsonschema; this subset is the same in draft 7
    formats = {name: FORMATS.checkers[name][0] for name in ("date", "date-time", "email", "uri")}
    return fastjsonschema.compile(schema, formats=formats, use_default=False, detailed_exceptions=False)


_TYPE_WORDS = {
    "string": "a text",
    "integer": "an integer",
    "number": "a decimal number",
    "boolean": "true or false",
    "array": "a list of objects",
    "object": "an object",
}
_FORMAT_WORDS = {
    "date": "a date (YYYY-MM-DD, e.g. 2026-12-01)",
    "date-time": "a date and time with its time zone (ISO 8601, e.g. 2026-12-01T08:00:00Z)",
    "email": "an email address",
    "uri": "a URL (http:// or https://)",
}


def _expected(schema: dict) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(repr(v) for v in schema["enum"] if v is not None)
    if "format" in schema:
        return _FORMAT_WORDS.get(schema["format"], schema["format"])
    if schema.get("pattern") == E164_PATTERN:
        return "a phone number in E.164 form (+, country code and number, e.g. +33612345678)"
    types = schema.get("type", "object")
    main = next((t for t in ([types] if isinstance(types, str) else types) if t != "null"), "null")
    words = _TYPE_WORDS.get(main, main)
    if main == "string" and "maxLength" in schema:
        words += f" of at most {schema['maxLength']} characters"
    return words


def _describe_value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {shown!r}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _path(base: str, parts) -> str:
    path = base
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _describe(error: ValidationError) -> list[tuple[str, str]]:
    """(path suffix, message) pairs in the user's terms, one per bad field."""
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "required":
        properties = schema.get("properties", {})
        return [
            (f".{name}", f"This field is required: expected {_expected(properties.get(name, {}))}.")
            for name in error.validator_value
            if name not in (error.instance or {})
        ]
    if error.validator == "additionalProperties":
        allowed = set(schema.get("properties", {}))
        return [
            (f".{name}", "Unknown field: it is not part of the event's data structure.")
            for name in error.instance
            if name not in allowed
        ]
    value = error.instance
    if error.validator == "maxLength":
        return [("", f"Expected {_expected(schema)}; got {len(value)} characters.")]
    if error.validator == "minItems":
        expected = ngettext("Expected at least %d item", "Expected at least %d items", error.validator_value)
        return [("", f"{expected % error.validator_value}; got {len(value)}.")]
    if error.validator == "maxItems":
        expected = ngettext("Expected at most %d item", "Expected at most %d items", error.validator_value)
        return [("", f"{expected % error.validator_value}; got {len(value)}.")]
    if error.validator in ("format", "pattern", "enum"):
        return [("", f"Expected {_expected(schema)}; {_describe_value(value)} is not valid.")]
    if error.validator == "type":
        return [("", f"Expected {_expected(schema)}; got {_describe_value(value)}.")]
    return [("", error.message)]


def _sort_key(error: ValidationError) -> list[tuple[int, int | str]]:
    return [(0, p) if isinstance(p, int) else (1, str(p)) for p in error.absolute_path]


@lru_cache(maxsize=1024)
def _ctx_check(schema_json: str) -> Callable[[object], list[FieldError]]:
    passes, validator = _passes(schema_json), _validator(schema_json)

    def check(ctx: object) -> list[FieldError]:
        try:
            passes(ctx)
        except (fastjsonschema.JsonSchemaException, RecursionError):
            pass  # judged below
        else:
            return []
        errors: list[FieldError] = []
        for error in sorted(validator.iter_errors(ctx), key=_sort_key):
            base = _path("ctx", error.absolute_path)
            errors.extend(FieldError(path=base + suffix, message=msg) for suffix, msg in _describe(error))
        # jsonschema reports a `required` failure once per missing property, each naming the whole
        # list: keep each field's error once.
        return list(dict.fromkeys(errors))

    return check


def ctx_checker(*, schema: dict) -> Callable[[object], list[FieldError]]:
    """The check of `ctx` payloads against this schema: every error, each with its path."""
    return _ctx_check(json.dumps(schema, sort_keys=True))


def ctx_validate(*, schema: dict, ctx: object) -> list[FieldError]:
    return ctx_checker(schema=schema)(ctx)


# --- A sample payload that passes the contract --------------------------------------------------


def _sample_value(field: dict) -> object:
    field_type = field["type"]
    now = timezone.now().replace(microsecond=0)
    if field["field_id"] == LANGUAGE_FIELD_ID and field_type == FieldType.TEXT:
        return "en"[: field.get("max_length") or 2]
    samples = {
        FieldType.INTEGER: 1,
        FieldType.DECIMAL: 19.99,
        FieldType.BOOLEAN: True,
        FieldType.DATE: now.date().isoformat(),
        FieldType.DATETIME: now.isoformat().replace("+00:00", "Z"),
        FieldType.EMAIL: "customer@example.com",
        FieldType.PHONE: "+33612345678",
        FieldType.URL: "https://www.example.com/",
    }
    if field_type in samples:
        return samples[field_type]
    if field_type == FieldType.ENUMERATION:
        return field["allowed_values"][0]
    text = field.get("label") or field["field_id"]
    return text[: field["max_length"]] if field.get("max_length") else text


def sample_ctx(*, structure: dict) -> dict:
    """A `ctx` holding every field and one or more items per collection, accepted by the contract."""
    ctx = {field["field_id"]: _sample_value(field) for field in structure.get("fields", [])}
    for collection in structure.get("collections", []):
        count = max(collection.get("min_items") or 0, 1)
        if collection.get("max_items") is not None:
            count = min(count, collection["max_items"])
        ctx[collection["collection_id"]] = [
            {field["field_id"]: _sample_value(field) for field in collection["fields"]} for _ in range(count)
        ]
    return ctx
