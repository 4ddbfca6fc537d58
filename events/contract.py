"""The published data structure as a contract.

At publish the structure (`{"fields", "collections", "enrichments"}`, see `structure_check`) is
checked, then compiled once into a standard, self-contained JSON Schema (draft 2020-12) of the
payload's `ctx`. The trigger API validates each payload with `ctx_checker` (compiled once per
schema: a fast pass by fastjsonschema, jsonschema for the errors), which reports every
bad field with its path (`ctx.items[2].price`), the expected type and the value's problem.
"""

import json
import math
import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
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
# A decimal or integer field accepts a JSON number or the same number written as plain text
# ("80.50", "-3": money is often sent as text to keep exact cents); no exponent, sign `+`, spaces
# or thousands separators. `(?![\s\S])` is the end of the text in every regex dialect (`$` would
# let a final newline through in Python's).
DECIMAL_PATTERN = r"^-?[0-9]{1,30}(\.[0-9]{1,30})?(?![\s\S])"
INTEGER_PATTERN = r"^-?[0-9]{1,30}(?![\s\S])"
NUMBER_PATTERNS = {DECIMAL_PATTERN: "number", INTEGER_PATTERN: "integer"}
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
    if value.startswith("_"):
        # Message templates may not read names starting with '_' (object internals).
        message = (
            f"The {what} {value!r} must start with a letter: templates cannot read names starting with '_'."
        )
        errors.append(FieldError(path, message))
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
        schema.update(type=["integer", "string"], pattern=INTEGER_PATTERN)
    elif field_type == FieldType.DECIMAL:
        schema.update(type=["number", "string"], pattern=DECIMAL_PATTERN)
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
        types = schema["type"]
        schema["type"] = [*(types if isinstance(types, list) else [types]), "null"]
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
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
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
    if error.validator == "pattern" and error.validator_value in NUMBER_PATTERNS:
        # A number written as text that is not a plain number ("80,50", "80 €", "1e2", "NaN").
        return [("", f"Expected {_expected(schema)}; got {_describe_value(value)}.")]
    if error.validator in ("format", "pattern", "enum"):
        return [("", f"Expected {_expected(schema)}; {_describe_value(value)} is not valid.")]
    if error.validator == "type":
        return [("", f"Expected {_expected(schema)}; got {_describe_value(value)}.")]
    return [("", error.message)]


def _sort_key(parts) -> list[tuple[int, int | str]]:
    return [(0, p) if isinstance(p, int) else (1, str(p)) for p in parts]


def _number_fields(schema: dict) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """The decimal fields of a ctx schema: at the top, and in the items of each collection."""

    def decimals(properties: dict) -> tuple[str, ...]:
        return tuple(name for name, field in properties.items() if field.get("pattern") == DECIMAL_PATTERN)

    properties = schema.get("properties") or {}
    collections = {
        name: decimals((field.get("items") or {}).get("properties") or {})
        for name, field in properties.items()
        if field.get("type") == "array"
    }
    return decimals(properties), {name: fields for name, fields in collections.items() if fields}


def _non_finite(
    ctx: object, top: tuple[str, ...], collections: dict[str, tuple[str, ...]]
) -> list[tuple[list, FieldError]]:
    """NaN and infinities given as numbers to decimal fields (JSON cannot hold them, but a caller
    in Python can), which the schema's type `number` lets through: (the value's path, its error)."""
    if not isinstance(ctx, dict):
        return []

    def bad(value: object) -> bool:
        return isinstance(value, float) and not math.isfinite(value)

    def error(parts: list, value: float) -> tuple[list, FieldError]:
        message = f"Expected a decimal number; got {_describe_value(value)}."
        return parts, FieldError(_path("ctx", parts), message)

    errors = [error([name], ctx[name]) for name in top if bad(ctx.get(name))]
    for collection, names in collections.items():
        items = ctx.get(collection)
        for index, item in enumerate(items if isinstance(items, list) else ()):
            if isinstance(item, dict):
                errors.extend(
                    error([collection, index, name], item[name]) for name in names if bad(item.get(name))
                )
    return errors


@lru_cache(maxsize=1024)
def _fast_check(schema_json: str) -> Callable[[object], bool]:
    """Whether a payload passes, by the compiled check (`_passes`) and a look at its decimal
    fields for NaN and infinities; only a pass is trusted."""
    passes = _passes(schema_json)
    top, collections = _number_fields(json.loads(schema_json))

    def fast(ctx: object) -> bool:
        try:
            passes(ctx)
        except (fastjsonschema.JsonSchemaException, RecursionError):
            return False
        return not (top or collections) or not _non_finite(ctx, top, collections)

    return fast


@lru_cache(maxsize=1024)
def _judge(schema_json: str) -> Callable[[object], list[FieldError]]:
    """The contract's verdict on a payload, every error with its path: jsonschema, and the decimal
    fields' look for NaN and infinities."""
    validator = _validator(schema_json)
    top, collections = _number_fields(json.loads(schema_json))

    def judge(ctx: object) -> list[FieldError]:
        found: list[tuple[list, FieldError]] = []
        for error in validator.iter_errors(ctx):
            base = _path("ctx", error.absolute_path)
            found.extend(
                (list(error.absolute_path), FieldError(path=base + suffix, message=msg))
                for suffix, msg in _describe(error)
            )
        found.extend(_non_finite(ctx, top, collections))
        errors = [error for _, error in sorted(found, key=lambda pair: _sort_key(pair[0]))]
        # jsonschema reports a `required` failure once per missing property, each naming the whole
        # list: keep each field's error once.
        return list(dict.fromkeys(errors))

    return judge


@lru_cache(maxsize=1024)
def _ctx_check(schema_json: str) -> Callable[[object], list[FieldError]]:
    fast, judge = _fast_check(schema_json), _judge(schema_json)

    def check(ctx: object) -> list[FieldError]:
        return [] if fast(ctx) else judge(ctx)

    return check


def ctx_checker(*, schema: dict) -> Callable[[object], list[FieldError]]:
    """The check of `ctx` payloads against this schema: every error, each with its path."""
    return _ctx_check(json.dumps(schema, sort_keys=True))


def ctx_validate(*, schema: dict, ctx: object) -> list[FieldError]:
    return ctx_checker(schema=schema)(ctx)


# --- The values as templates read them ----------------------------------------------------------


def _typed(field_type: str, value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return value
    try:
        if field_type == FieldType.DECIMAL:
            number = Decimal(str(value))
            return number if number.is_finite() else value
        if field_type == FieldType.INTEGER:
            return int(value)
    except (InvalidOperation, ValueError):
        pass
    return value


def ctx_typed(*, structure: dict, ctx: dict) -> dict:
    """The event's `ctx` as templates read it: a decimal field as a `Decimal` and an integer field
    as an `int`, whether the caller sent a JSON number or the same number as text ("80.50"), so
    that `format_currency` shows the same either way. Other values are left as they are."""

    def convert(values: dict, fields: list[dict]) -> dict:
        typed = {
            f["field_id"]: f["type"]
            for f in fields
            if f.get("type") in (FieldType.DECIMAL, FieldType.INTEGER)
        }
        if not typed or not any(name in values for name in typed):
            return values
        return {key: _typed(typed[key], value) if key in typed else value for key, value in values.items()}

    ctx = convert(ctx, structure.get("fields") or [])
    for collection in structure.get("collections") or []:
        name, items = collection.get("collection_id"), ctx.get(collection.get("collection_id"))
        if isinstance(items, list):
            fields = collection.get("fields") or []
            converted = [convert(item, fields) if isinstance(item, dict) else item for item in items]
            if any(new is not old for new, old in zip(converted, items, strict=True)):
                ctx = {**ctx, name: converted}
    return ctx


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
