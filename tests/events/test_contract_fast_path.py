"""The trigger path accepts a payload when its fast check (fastjsonschema's compiled check, and a
look at the decimal fields for NaN and infinities) passes it; jsonschema stays the judge of
everything else. A pass must never be wrong: for any payload the fast check passes, the contract
finds no error. Decimals and integers come as numbers and as text, well and badly written."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.contract import _fast_check, _judge, ctx_schema_build, ctx_validate, sample_ctx

FIELDS = [
    {"field_id": "name", "type": "text", "max_length": 5, "required": True},
    {"field_id": "count", "type": "integer", "required": True},
    {"field_id": "amount", "type": "decimal", "required": False},
    {"field_id": "vip", "type": "boolean", "required": False},
    {"field_id": "day", "type": "date", "required": False},
    {"field_id": "at", "type": "datetime", "required": False},
    {"field_id": "mail", "type": "email", "required": False},
    {"field_id": "phone", "type": "phone", "required": False},
    {"field_id": "site", "type": "url", "required": False},
    {"field_id": "size", "type": "enumeration", "allowed_values": ["S", "M"], "required": True},
]
COLLECTION = {
    "collection_id": "items",
    "label": "Items",
    "min_items": 1,
    "max_items": 2,
    "fields": [
        {"field_id": "sku", "type": "text", "max_length": 3, "required": True},
        {"field_id": "price", "type": "decimal", "required": False},
    ],
}
SCHEMA = ctx_schema_build(fields=FIELDS, collections=[COLLECTION])
STRUCTURE = {"fields": FIELDS, "collections": [COLLECTION]}

# Values near the edges of each type and format, plus anything JSON can hold.
texts = st.sampled_from(
    [
        "",
        "S",
        "M",
        "abcde",
        "abcdef",
        "2026-02-28",
        "2026-02-30",
        "2026-12-01T08:00:00Z",
        "2026-12-01 08:00:00",
        "2026-12-01T08:00:00+01:00",
        "jane@example.com",
        "jane@",
        "https://example.com/a",
        "ftp://example.com",
        "+33612345678",
        "0612345678",
        "+3361234567890123",
        # Numbers as text, plain and not.
        "80.50",
        "-3",
        "3",
        "007",
        "1e2",
        "80,50",
        "80 €",
        "NaN",
        "Infinity",
        "-Infinity",
        "80.50\n",
        " 3",
        "+3",
        ".5",
        "3.",
        "3.0",
        "1" * 31,
    ]
) | st.text(max_size=8)
# Numbers, the non-finite ones too (a Python caller can pass them).
numbers = st.integers(-3, 3) | st.floats() | st.sampled_from([1.0, 2.5, 10**40, float("nan"), float("inf")])
scalars = st.none() | st.booleans() | numbers | texts
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(texts, inner, max_size=2),
    max_leaves=4,
)
item = st.fixed_dictionaries({}, optional={"sku": values, "price": values, "other": values})
keys = [field["field_id"] for field in FIELDS]
VALID = sample_ctx(structure=STRUCTURE)
# A valid payload with some of its values replaced, some removed, or an unknown key added: most pass
# or fail on one detail, where the two validators could disagree.
# The numbers: a decimal and an integer, at the top and in an otherwise valid item.
number_overrides = st.dictionaries(st.sampled_from(["amount", "count"]), numbers | texts, min_size=1) | (
    st.fixed_dictionaries(
        {
            "items": st.lists(
                st.fixed_dictionaries({"sku": st.just("a"), "price": numbers | texts}), min_size=1, max_size=2
            )
        }
    )
)
overrides = (
    st.dictionaries(st.sampled_from([*keys, "extra"]), values, max_size=2)
    | st.fixed_dictionaries({"items": st.lists(item, max_size=3) | values})
    | number_overrides
)
payloads = st.builds(
    lambda changed, removed: {k: v for k, v in {**VALID, **changed}.items() if k not in removed},
    overrides,
    st.sets(st.sampled_from(keys), max_size=2),
)


def fast_passes(ctx) -> bool:
    return _fast_check(json.dumps(SCHEMA, sort_keys=True))(ctx)


def judged(ctx) -> list:
    """The contract's verdict without the fast check (ctx_validate asks the fast check first)."""
    return _judge(json.dumps(SCHEMA, sort_keys=True))(ctx)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads)
def test_a_payload_the_fast_check_passes_has_no_error(ctx):
    if fast_passes(ctx):
        assert judged(ctx) == []


@pytest.mark.parametrize(
    ("changes", "passes"),
    [
        ({"amount": "80.50", "count": "3"}, True),
        ({"amount": -3, "count": -3}, True),
        ({"amount": "80,50"}, False),
        ({"amount": "1e2"}, False),
        ({"amount": float("nan")}, False),
        ({"amount": float("inf")}, False),
        ({"count": "3.0"}, False),
        ({"items": [{"sku": "a", "price": "19.90"}]}, True),
        ({"items": [{"sku": "a", "price": float("nan")}]}, False),
    ],
)
def test_numbers_as_text_take_the_fast_path_and_non_finite_numbers_do_not(changes, passes):
    ctx = {**VALID, **changes}
    assert fast_passes(ctx) is passes
    assert (judged(ctx) == []) is passes


def test_valid_payloads_take_the_fast_path_and_invalid_ones_get_every_error():
    valid = VALID
    assert fast_passes(valid)
    assert judged(valid) == []
    errors = ctx_validate(schema=SCHEMA, ctx={**valid, "name": "toolong", "phone": "0612", "bad": 1})
    assert {e.path for e in errors} == {"ctx.name", "ctx.phone", "ctx.bad"}


def test_the_trigger_reads_the_paused_status_messages_write():
    from events.selectors import MESSAGE_PAUSED
    from messages_app.models import MessageStatus

    assert MESSAGE_PAUSED == MessageStatus.PAUSED


def test_the_database_fills_the_columns_the_trigger_leaves_out_as_the_model_would():
    from django.db.models import NOT_PROVIDED

    from events.models import Event, event_insert_fields

    left_out = [
        f for f in Event._meta.concrete_fields if not f.primary_key and f.name not in event_insert_fields()
    ]
    assert left_out, "the trigger names every column"
    for field in left_out:
        assert field.db_default is not NOT_PROVIDED, field.name
        assert getattr(field.db_default, "value", field.db_default) == field.get_default(), field.name
