"""The published data structure as a contract: compiled once at publish into a JSON Schema,
then used by the trigger API to validate each payload's `ctx`."""

import json
from functools import lru_cache

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from campaign.exceptions import FieldError


def ctx_schema_build(*, fields: list[dict]) -> dict:
    properties: dict[str, dict] = {}
    for field in fields:
        prop: dict = {"type": "string"}
        if field.get("max_length"):
            prop["maxLength"] = field["max_length"]
        properties[field["field_id"]] = prop
    return {
        "type": "object",
        "properties": properties,
        "required": [f["field_id"] for f in fields if f.get("required")],
        "additionalProperties": False,
    }


@lru_cache(maxsize=1024)
def _validator(schema_json: str) -> Draft202012Validator:
    # Keyed by the schema text, not the version id: ids of rolled-back rows can be reused.
    return Draft202012Validator(json.loads(schema_json))


def _path(base: str, error: ValidationError) -> str:
    path = base
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _describe(error: ValidationError) -> list[tuple[str, str]]:
    """(path suffix, message) pairs in the user's terms, one per bad field."""
    if error.validator == "required":
        return [
            (f".{name}", "This field is required.")
            for name in error.validator_value
            if name not in (error.instance or {})
        ]
    if error.validator == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        return [
            (f".{name}", "Unknown field: it is not part of the event's data structure.")
            for name in error.instance
            if name not in allowed
        ]
    if error.validator == "type":
        return [("", f"Expected {error.validator_value}, got {type(error.instance).__name__}.")]
    if error.validator == "maxLength":
        return [("", f"At most {error.validator_value} characters (got {len(error.instance)}).")]
    return [("", error.message)]


def ctx_validate(*, schema: dict, ctx: object) -> list[FieldError]:
    validator = _validator(json.dumps(schema, sort_keys=True))
    errors: list[FieldError] = []
    for error in sorted(validator.iter_errors(ctx), key=lambda e: list(map(str, e.absolute_path))):
        base = _path("ctx", error)
        errors.extend(FieldError(path=base + suffix, message=msg) for suffix, msg in _describe(error))
    return errors
