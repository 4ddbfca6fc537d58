"""Structured conditions on profiles, as administrators build them in the admin (never SQL or
Python from the user): a group `{"all": [...]}` (AND) or `{"any": [...]}` (OR) of conditions
`{"field": ..., "op": ..., "value": ...}` and nested groups.

Fields: the profile's own fields (`language`, `email`, ...), its custom attributes as
`attributes.<name>` (compared as their declared type) and `service`, with the operators
`subscribed` / `notSubscribed` and a subscription service's name as value, and `message`: what was
sent to the profile (`received` / `notReceived`: a message's ID or a marketing delivery's label, the
contacts fatigue counts) and what the profile did with it (`opened` / `notOpened` / `clicked` /
`notClicked`: a transactional email's ID, human opens and clicks only). Opens and clicks are the
delivery engine's, one layer up: it registers how to read them when it starts
(`message_engagement_register`, called from `DeliveryConfig.ready`)."""

from collections.abc import Callable

from django import forms
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    IEndsWith,
    IExact,
    In,
    IStartsWith,
    LessThan,
    LessThanOrEqual,
)
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from profiles.models import AttributeType, Profile, Subscription
from profiles.selectors import (
    ATTRIBUTES_KEY,
    PROFILE_TEMPLATE_FIELDS,
    attribute_definitions,
    attribute_value_parse,
)

TEXT_OPS = ("eq", "ne", "contains", "startswith", "endswith", "in", "empty", "notEmpty")
ORDER_OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "empty", "notEmpty")
SERVICE_OPS = ("subscribed", "notSubscribed")
MESSAGE_OPS = ("received", "notReceived", "opened", "notOpened", "clicked", "notClicked")
ENGAGEMENT_OPS = ("opened", "notOpened", "clicked", "notClicked")
NO_VALUE_OPS = ("empty", "notEmpty")
MAX_DEPTH = 4
MAX_CONDITIONS = 50

_CAST = {
    AttributeType.INTEGER: models.BigIntegerField(),
    AttributeType.DECIMAL: models.DecimalField(max_digits=30, decimal_places=10),
    AttributeType.DATE: models.DateField(),
    AttributeType.DATETIME: models.DateTimeField(),
}
_COMPARE = {"eq": Exact, "gt": GreaterThan, "gte": GreaterThanOrEqual, "lt": LessThan, "lte": LessThanOrEqual}


_ENGAGEMENT: dict[str, Callable] = {}


def message_engagement_register(*, q: Callable[..., Q], problem: Callable[..., str | None]) -> None:
    """`q(message_id=, op=)`: the profiles that opened, did not open, clicked or did not click the
    message; `problem(message_id=)`: why its opens and clicks cannot be asked about, or None."""
    _ENGAGEMENT["q"] = q
    _ENGAGEMENT["problem"] = problem


def _field_ops(field: str, definitions: dict[str, str]) -> tuple[str | None, tuple[str, ...]]:
    """(attribute type or None for a profile field, the operators it takes); raises ValueError."""
    if field == "service":
        return None, SERVICE_OPS
    if field == "message":
        return None, MESSAGE_OPS
    if field in PROFILE_TEMPLATE_FIELDS:
        return None, TEXT_OPS
    prefix = f"{ATTRIBUTES_KEY}."
    if field.startswith(prefix) and field[len(prefix) :] in definitions:
        kind = definitions[field[len(prefix) :]]
        return kind, TEXT_OPS if kind == AttributeType.TEXT else ORDER_OPS
    raise ValueError(gettext("Unknown profile field “%(field)s”.") % {"field": field})


def condition_problems(condition: object) -> list[str]:
    """Every problem of a condition, in words for the person who wrote it (empty when it is fine)."""
    problems: list[str] = []
    definitions = attribute_definitions()
    count = 0

    def walk(node: object, where: str, depth: int) -> None:
        nonlocal count
        if not isinstance(node, dict):
            problems.append(gettext("%(where)s: expected an object.") % {"where": where})
            return
        groups = [key for key in ("all", "any") if key in node]
        if groups:
            if len(node) != 1 or not isinstance(node[groups[0]], list) or not node[groups[0]]:
                problems.append(
                    gettext(
                        '%(where)s: a group is {"all": [...]} or {"any": [...]} with at least one condition.'
                    )
                    % {"where": where}
                )
                return
            if depth >= MAX_DEPTH:
                problems.append(
                    gettext("%(where)s: groups nest %(max)s deep at most.")
                    % {"where": where, "max": MAX_DEPTH}
                )
                return
            for index, child in enumerate(node[groups[0]], 1):
                walk(child, f"{where} > {index}", depth + 1)
            return
        count += 1
        if set(node) - {"field", "op", "value"} or "field" not in node or "op" not in node:
            problems.append(
                gettext("%(where)s: a condition has a field, an op and a value.") % {"where": where}
            )
            return
        try:
            kind, ops = _field_ops(str(node["field"]), definitions)
        except ValueError as error:
            problems.append(f"{where}: {error}")
            return
        op = node["op"]
        if op not in ops:
            problems.append(
                gettext("%(where)s: “%(op)s” does not apply to %(field)s (use one of: %(ops)s).")
                % {"where": where, "op": op, "field": node["field"], "ops": ", ".join(ops)}
            )
            return
        if op in NO_VALUE_OPS:
            return
        values = node.get("value")
        if op == "in":
            if not isinstance(values, list) or not values:
                problems.append(gettext("%(where)s: “in” takes a list of values.") % {"where": where})
                return
        else:
            values = [values]
        for value in values:
            if value is None or value == "" or isinstance(value, dict | list):
                problems.append(gettext("%(where)s: give a value.") % {"where": where})
            elif op in ENGAGEMENT_OPS:
                problem = _ENGAGEMENT["problem"](message_id=str(value))
                if problem:
                    problems.append(f"{where}: {problem}")
            elif kind and kind != AttributeType.TEXT:
                try:
                    attribute_value_parse(type=kind, value=value)
                except ValueError as error:
                    problems.append(f"{where}: {error}")

    walk(condition, gettext("Condition"), 0)
    if count > MAX_CONDITIONS:
        problems.append(gettext("A rule holds %(max)s conditions at most.") % {"max": MAX_CONDITIONS})
    return problems


def condition_q(condition: dict) -> Q:
    """The condition as a filter on profiles (checked with condition_problems first)."""
    definitions = attribute_definitions()
    return _node_q(condition, definitions)


def _node_q(node: dict, definitions: dict[str, str]) -> Q:
    for key, combine in (("all", Q.__and__), ("any", Q.__or__)):
        if key in node:
            children = [_node_q(child, definitions) for child in node[key]]
            q = children[0]
            for child in children[1:]:
                q = combine(q, child)
            return q
    field, op, value = str(node["field"]), node["op"], node.get("value")
    kind, _ops = _field_ops(field, definitions)
    if field == "service":
        subscribed = Exists(
            Subscription.objects.filter(
                profile=OuterRef("pk"), service__name=value, unsubscribed_at__isnull=True
            )
        )
        return Q(subscribed) if op == "subscribed" else ~Q(subscribed)
    if field == "message":
        # What the profile did with a message: its human opens and clicks (the delivery engine's).
        if op in ENGAGEMENT_OPS:
            return _ENGAGEMENT["q"](message_id=str(value), op=op)
        # What was sent to the profile: the contacts fatigue counts (a message by its ID, e.g.
        # RTEVTorderShipped; a marketing delivery by its label).
        received = Exists(Profile.objects.filter(pk=OuterRef("pk"), contacts__source=value))
        return Q(received) if op == "received" else ~Q(received)
    if kind is None:
        return _text_q(field, op, value)
    name = field.split(".", 1)[1]
    text = KT(f"{ATTRIBUTES_KEY}__{name}")
    if op == "empty":
        return Q(**{f"{ATTRIBUTES_KEY}__{name}__isnull": True}) | Q(**{f"{ATTRIBUTES_KEY}__{name}": ""})
    if op == "notEmpty":
        return ~_node_q({"field": field, "op": "empty"}, definitions)
    if kind == AttributeType.TEXT:
        return _text_q(text, op, value)
    if kind == AttributeType.BOOLEAN:
        wanted = attribute_value_parse(type=kind, value=value)
        return (
            Q(**{f"{ATTRIBUTES_KEY}__{name}": wanted})
            if op == "eq"
            else ~Q(**{f"{ATTRIBUTES_KEY}__{name}": wanted})
        )
    typed = Cast(text, _CAST[kind])
    parsed = [attribute_value_parse(type=kind, value=item) for item in (value if op == "in" else [value])]
    if op == "in":
        q = Q()
        for item in parsed:
            q |= _compare("eq", typed, item)
        return q
    if op == "ne":
        return ~_compare("eq", typed, parsed[0]) | Q(**{f"{ATTRIBUTES_KEY}__{name}__isnull": True})
    return _compare(op, typed, parsed[0])


def _compare(op: str, left, right) -> Q:
    return Q(_COMPARE[op](left, right))


def _text_q(field, op: str, value) -> Q:
    if not isinstance(field, str):  # a custom text attribute (empty and notEmpty handled by the caller)
        lookups = {"eq": IExact, "contains": IContains, "startswith": IStartsWith, "endswith": IEndsWith}
        if op in lookups:
            return Q(lookups[op](field, value))
        if op == "ne":
            return ~Q(IExact(field, value)) | Q(Exact(field, None))
        return Q(In(field, list(value)))
    lookups = {"eq": "iexact", "contains": "icontains", "startswith": "istartswith", "endswith": "iendswith"}
    if op in lookups:
        return Q(**{f"{field}__{lookups[op]}": value})
    if op == "ne":
        return ~Q(**{f"{field}__iexact": value})
    if op == "in":
        return Q(**{f"{field}__in": list(value)})
    return Q(**{field: ""}) if op == "empty" else ~Q(**{field: ""})


OPERATOR_LABELS = {
    "eq": _("is"),
    "ne": _("is not"),
    "contains": _("contains"),
    "startswith": _("starts with"),
    "endswith": _("ends with"),
    "in": _("is one of (comma-separated)"),
    "empty": _("is empty"),
    "notEmpty": _("is not empty"),
    "gt": _("is greater than"),
    "gte": _("is at least"),
    "lt": _("is less than"),
    "lte": _("is at most"),
    "subscribed": _("is subscribed to"),
    "received": _("received"),
    "notReceived": _("did not receive"),
    "opened": pgettext_lazy("condition", "opened"),
    "notOpened": _("did not open"),
    "clicked": _("clicked in"),
    "notClicked": _("did not click in"),
    "notSubscribed": _("is not subscribed to"),
}


def condition_fields() -> list[dict]:
    """What the condition builder offers: each field with its label and the operators it takes."""
    fields = [
        {"name": name, "label": name.replace("_", " "), "ops": list(TEXT_OPS)}
        for name in PROFILE_TEMPLATE_FIELDS
    ]
    for name, kind in attribute_definitions().items():
        ops = TEXT_OPS if kind == AttributeType.TEXT else ORDER_OPS
        fields.append({"name": f"{ATTRIBUTES_KEY}.{name}", "label": f"{name} ({kind})", "ops": list(ops)})
    fields.append({"name": "service", "label": gettext("subscription service"), "ops": list(SERVICE_OPS)})
    fields.append({"name": "message", "label": gettext("message (its ID)"), "ops": list(MESSAGE_OPS)})
    return fields


class ConditionWidget(forms.Textarea):
    """The condition's JSON, with a builder above it (typologies/static/typologies/condition.js):
    rows of field, operator and value joined by AND or OR; nested groups are written in the JSON."""

    template_name = "typologies/condition_widget.html"

    class Media:
        js = ["typologies/condition.js"]

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["builder_id"] = f"{context['widget']['attrs'].get('id', name)}-builder"
        context["builder"] = {
            "fields": condition_fields(),
            "operators": {op: str(label) for op, label in OPERATOR_LABELS.items()},
            "no_value": list(NO_VALUE_OPS),
            "labels": {
                "all": str(_("all of these")),
                "any": str(_("any of these")),
                "add": str(_("Add a condition")),
                "remove": str(_("Remove")),
                "nested": str(_("This condition has nested groups: edit it in the JSON below.")),
            },
        }
        return context
