"""Data structures with collections and enrichments, as the event-configuration issue publishes them."""

from events.models import EventConfiguration

CART_ITEMS = {
    "collection_id": "items",
    "label": "Cart items",
    "min_items": 0,
    "max_items": 50,
    "fields": [
        {"field_id": "name", "label": "Name", "type": "text", "required": True},
        {"field_id": "price", "label": "Price", "type": "text", "required": True},
    ],
}


def structure_extend(config: EventConfiguration, *, collections=(), enrichments=(), fields=()) -> None:
    """Add collections, enrichments or fields to the published structure (and its ctx schema)."""
    version = config.published_version
    structure = dict(version.structure)
    structure["fields"] = [*structure["fields"], *fields]
    structure["collections"] = [*structure.get("collections", []), *collections]
    structure["enrichments"] = [*structure.get("enrichments", []), *enrichments]
    schema = dict(version.ctx_schema)
    properties = dict(schema["properties"])
    for field in fields:
        properties[field["field_id"]] = {"type": "string"}
    for collection in collections:
        properties[collection["collection_id"]] = {
            "type": "array",
            "maxItems": collection["max_items"],
            "items": {
                "type": "object",
                "properties": {f["field_id"]: {"type": "string"} for f in collection["fields"]},
                "additionalProperties": False,
            },
        }
    schema["properties"] = properties
    version.structure, version.ctx_schema = structure, schema
    version.save(update_fields=["structure", "ctx_schema"])
    config.refresh_from_db()
