"""Publish refuses templates that reach beyond the data they are given (SPEC MSG-2, MSG-5), naming
the part and the line, through the service and the message admin; limits only a render can see
fail the event at once with a clear error (delivery, against the real SMTP server on loopback)."""

import html

import pytest

from campaign.exceptions import ValidationFailed
from delivery.models import AttemptOutcome, DeliveryAttempt
from delivery.services import events_deliver
from events.models import Event, EventStatus
from events.services import event_trigger
from messages_app.models import MessageVersion
from messages_app.services import message_publish, message_update, message_variants_set
from tests.conftest import make_published_event
from tests.messages_app.helpers import CART_ITEMS, structure_extend

pytestmark = pytest.mark.django_db

INTERNALS = "starts with '_': templates read the data they are given, not object internals."
UNAVAILABLE = "is not available in messages: use ctx.<field>, an enrichment or a documented helper."
ATTR = "attr is not available: read fields as ctx.<field>."
ONE_TEMPLATE = "is not available: a message is one template."
TOO_LONG = "this expression builds a value longer than 200000 characters: a message cannot hold it."
TOO_LARGE = "this expression builds a number too large: a message cannot hold it."

# (part, template, line, what publish says). Each template compiles: only the reach check refuses it.
CORPUS = [
    # Attribute and item chains into object internals.
    ("text", "Hi\n{{ ''.__class__.__mro__[1].__subclasses__() }}", 2, f"'__mro__' {INTERNALS}"),
    ("text", "{{ ctx.__class__.__init__.__globals__ }}", 1, f"'__class__' {INTERNALS}"),
    ("html", "<p>\n\n{{ ctx['__class__'] }}</p>", 3, f"'__class__' {INTERNALS}"),
    ("subject", "{{ ctx.firstName._private }}", 1, f"'_private' {INTERNALS}"),
    ("text", "{{ self._TemplateReference__context }}", 1, f"'_TemplateReference__context' {INTERNALS}"),
    ("text", "{{ self }}", 1, f"self {UNAVAILABLE}"),
    ("text", "{{ range.__self__ }}", 1, f"'__self__' {INTERNALS}"),
    (
        "html",
        "{% if ctx.firstName %}\n{{ ctx.firstName.upper.__globals__ }}\n{% endif %}",
        2,
        f"'__globals__' {INTERNALS}",
    ),
    # attr, directly and through the filters that apply filters or read attributes by name.
    ("text", "{{ ctx|attr('firstName') }}", 1, ATTR),
    ("text", "{% set x = ''|attr('__class__') %}\n{{ x }}", 1, ATTR),
    ("text", "{{ [ctx]|map('attr', '__class__')|list }}", 1, ATTR),
    ("text", "{{ [ctx]|map(attribute='__class__')|list }}", 1, f"'__class__' {INTERNALS}"),
    ("text", "{{ [ctx]|selectattr('__class__')|list }}", 1, f"'__class__' {INTERNALS}"),
    (
        "text",
        "{{ [ctx]|sort(attribute='firstName.__class__')|first }}",
        1,
        f"'firstName.__class__' {INTERNALS}",
    ),
    ("text", "{% for group in [ctx]|groupby('_x') %}{{ group }}{% endfor %}", 1, f"'_x' {INTERNALS}"),
    # Jinja's own globals and the names of the macro machinery.
    ("text", "{{ cycler.__init__.__globals__.os.popen('id').read() }}", 1, f"cycler {UNAVAILABLE}"),
    ("text", "{% set j = joiner(', ') %}{{ j() }}", 1, f"joiner {UNAVAILABLE}"),
    (
        "text",
        "{% set ns = namespace(total=0) %}\n{% set ns.total = 1 %}{{ ns.total }}",
        1,
        f"namespace {UNAVAILABLE}",
    ),
    ("text", "{{ dict(a=1) }}", 1, f"dict {UNAVAILABLE}"),
    (
        "text",
        "{% set ns = ctx %}\n{% set ns.total = 1 %}",
        2,
        "namespace is not available: {% set %} a variable instead.",
    ),
    ("text", "{% filter upper %}\n{{ ctx.firstName.__doc__ }}{% endfilter %}", 2, f"'__doc__' {INTERNALS}"),
    ("text", "{{ lipsum(99) }}", 1, f"lipsum {UNAVAILABLE}"),
    ("text", "{{ mc_bounded_iter }}", 1, f"mc_bounded_iter {UNAVAILABLE}"),
    ("text", "{{ caller() }}", 1, f"caller {UNAVAILABLE}"),
    # Other templates and macros.
    ("html", "<p>Hi</p>\n{% include 'admin/base.html' %}", 2, f"{{% include %}} {ONE_TEMPLATE}"),
    ("text", "{% import 'admin/base.html' as base %}", 1, f"{{% import %}} {ONE_TEMPLATE}"),
    ("text", "{% from 'admin/base.html' import x %}", 1, f"{{% import %}} {ONE_TEMPLATE}"),
    ("html", "{% extends 'admin/base.html' %}", 1, f"{{% extends %}} {ONE_TEMPLATE}"),
    (
        "text",
        "Hi\n{% macro f(s) %}{{ f(s ~ s) }}{% endmacro %}{{ f('ab') }}",
        2,
        f"{{% macro %}} {ONE_TEMPLATE}",
    ),
    ("text", "{% call ctx.firstName() %}x{% endcall %}", 1, f"{{% call %}} {ONE_TEMPLATE}"),
    # String formatting.
    (
        "text",
        "{{ '%999999999s' % ctx.firstName }}",
        1,
        "%-formatting of text is not available: use the format_* filters.",
    ),
    (
        "subject",
        "{{ '{:>999999999}'.format(1) }}",
        1,
        "str.format is not available: use the format_* filters.",
    ),
    (
        "text",
        "{{ '{0.__class__}'.format_map(ctx) }}",
        1,
        "str.format_map is not available: use the format_* filters.",
    ),
    # Size bombs the check can see: constant values, ranges and loops beyond the sandbox's bounds.
    ("text", "{{ 'x' * 10**9 }}", 1, TOO_LONG),
    ("text", "{{ ['x' * 100000] * 100000 }}", 1, TOO_LONG),
    ("text", "{% set a = 'x' %}\n{% set b = 'x' * 150000 ~ 'y' * 150000 %}", 2, TOO_LONG),
    ("text", "{{ 9**9**9 }}", 1, TOO_LARGE),
    ("text", "{{ 10**60 * 10**60 * 10**60 }}", 1, TOO_LARGE),
    ("text", "{% for a in range(100000) %}{% endfor %}", 1, "range() is limited to 1000 numbers."),
    ("text", "{{ range(10**6)|list|length }}", 1, "range() is limited to 1000 numbers."),
    (
        "text",
        "{% for a in range(1000) %}\n{% for b in range(1000) %}{% endfor %}{% endfor %}",
        2,
        "these loops would run 1000000 times; a message is limited to 50000.",
    ),
    ("text", "{{ [1]|batch(999999999, 'x')|list }}", 1, "batch: an argument over 10000."),
    ("text", "{{ ctx.firstName|truncate(99999999) }}", 1, "truncate: an argument over 10000."),
]


def refusals(message) -> list[tuple[str, str]]:
    with pytest.raises(ValidationFailed) as caught:
        message_publish(message=message)
    return [(error.path, error.message) for error in caught.value.errors]


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 30


@pytest.mark.parametrize(("part", "source", "line", "reason"), CORPUS)
def test_publish_refuses_a_template_reaching_beyond_the_data(cart_event, part, source, line, reason):
    message_update(message=cart_event.message, **{part: source})
    assert (part, f"line {line}: {reason}") in refusals(cart_event.message)
    assert cart_event.message.versions.count() == 1  # the version of the fixture only


@pytest.mark.parametrize(("part", "source", "line", "reason"), CORPUS)
def test_the_message_admin_publish_shows_the_part_and_line(
    client, marketer, cart_event, part, source, line, reason
):
    message = cart_event.message
    message_update(message=message, **{part: source})
    client.force_login(marketer)
    page = client.post(f"/admin/messages_app/transactionalmessage/{message.pk}/action/publish/", follow=True)
    assert page.status_code == 200
    assert f"{part}: line {line}: {reason}" in html.unescape(page.content.decode())
    assert message.versions.count() == 1


def test_variants_sms_and_push_parts_are_checked_too(cart_event):
    message_variants_set(message=cart_event.message, variants={"fr": {"subject": "Salut\n{{ cycler }}"}})
    assert ("variants.fr.subject", f"line 2: cycler {UNAVAILABLE}") in refusals(cart_event.message)

    sms = make_published_event(event_id="EVTsmsChecks", content=None, publish_message=False)
    sms.channel = "sms"
    sms.save(update_fields=["channel"])
    message_update(message=sms.message, sms_text="Code\n{{ ctx.firstName.__len__() }}")
    assert refusals(sms.message) == [("sms_text", f"line 2: '__len__' {INTERNALS}")]

    push = make_published_event(event_id="EVTpushChecks", content=None, publish_message=False)
    push.channel = "push"
    push.save(update_fields=["channel"])
    message_update(
        message=push.message,
        push_body="Hi {{ ctx.firstName }}",
        push_custom_data={"screen": "{{ joiner() }}"},
    )
    assert refusals(push.message) == [("push_custom_data.screen", f"line 1: joiner {UNAVAILABLE}")]


DOCUMENTED = [
    "{{ ctx.firstName|default('friend')|title }}",
    "{% set name = ctx.firstName|default('friend') %}{{ name }}",
    "{% for i in range(3) %}{{ loop.index }}{% if not loop.last %}, {% endif %}{% endfor %}",
    "{% for item in ctx.items[:3] %}{% if loop.first %}{{ item.name|upper }}{% endif %}"
    "{{ 'odd' if loop.index % 2 else 'even' }}{% else %}Empty{% endfor %}",
    "{{ ctx.items|map(attribute='name')|join(', ') }} {{ ctx.items|sort(attribute='price')|first }}",
    "{{ ctx.cartAmount|format_currency('EUR') }} {{ '2026-12-24'|format_date('long') }}",
    "{{ ctx.firstName|replace('_', ' ')|truncate(40) }} {{ ctx.lastProduct ~ '!' }} {{ '-' * 20 }}",
    "{% with total = ctx.cartAmount %}{{ total }}{% endwith %}{{ ctx.items|length * 2 }}",
    "{{ ctx.items|map(attribute='price')|map('format_currency', 'EUR')|join(' + ') }}",
]


@pytest.mark.parametrize("source", DOCUMENTED)
def test_the_documented_personalisation_still_publishes(cart_event, source):
    structure_extend(cart_event, collections=[CART_ITEMS])
    message_update(message=cart_event.message, text=source)
    version = message_publish(message=cart_event.message)
    assert version.content["text"] == source


# --- Limits only a render can see -------------------------------------------------------------

LONG_FIELDS = [{"field_id": "note", "label": "Note", "type": "text"}]


@pytest.fixture
def data_event(db):
    """A published message over event data of any size: a free text and a list of items."""
    config = make_published_event(event_id="EVTrenderLimits")
    structure_extend(config, fields=LONG_FIELDS, collections=[CART_ITEMS])
    return config


def publish_text(config, text, **content):
    message_update(message=config.message, text=text, html="", **content)
    message_publish(message=config.message)


def trigger(config, *, note="", items=(), **ctx):
    payload_ctx = {"firstName": "Jane", "cartAmount": "125", "lastProduct": "Jacket", **ctx}
    if note:
        payload_ctx["note"] = note
    if items:
        payload_ctx["items"] = list(items)
    return event_trigger(event_id=config.event_id, payload={"email": "jane@example.com", "ctx": payload_ctx})


RENDER_LIMITS = [
    # (template, the data that makes it go beyond a limit, the error)
    (
        "{% for item in ctx['items'] %}{% for i in range(1000) %}.{% endfor %}{% endfor %}",
        {"items": [{"name": "n", "price": "1"}] * 50},
        "text: the template went beyond a limit: more than 50000 loop iterations or calls",
    ),
    (
        "{% for item in ctx['items'] %}{% for i in range(100) %}{{ item.name }}{% endfor %}{% endfor %}",
        {"items": [{"name": "x" * 300, "price": "1"}] * 50},
        "text: the template went beyond a limit: an output longer than 1000000 characters",
    ),
    (
        "{{ ctx.note * 1000 }}",
        {"note": "x" * 1000},
        "text: the template went beyond a limit: a value longer than 200000 characters",
    ),
    (
        "{{ ctx['items']|map(attribute='name')|join(ctx.note) }}",
        {"note": "x" * 10000, "items": [{"name": "n", "price": "1"}] * 50},
        "text: the template went beyond a limit: a value longer than 200000 characters",
    ),
]


@pytest.mark.parametrize(("template", "data", "error"), RENDER_LIMITS)
def test_an_event_beyond_a_render_limit_fails_at_once_and_the_others_are_sent(
    data_event, smtp, template, data, error
):
    publish_text(data_event, template)
    beyond = trigger(data_event, **data)
    small = trigger(data_event, note="short", items=[{"name": "n", "price": "1"}])

    events_deliver(event_pks=[beyond.pk, small.pk])

    beyond.refresh_from_db()
    assert beyond.status == EventStatus.DELIVERY_FAILED
    assert beyond.error == f"Rendering failed: {error}"
    [attempt] = DeliveryAttempt.objects.filter(event=beyond)
    assert (attempt.outcome, attempt.retry_at) == (AttemptOutcome.PROCESSING_ERROR, None)
    assert Event.objects.get(pk=small.pk).status == EventStatus.PROCESSED
    assert [mail.envelope_recipients for mail in smtp.messages] == [["jane@example.com"]]


def test_a_missing_value_under_the_fail_policy_fails_the_event_at_once(data_event, smtp):
    publish_text(data_event, "Your note:\n{{ ctx.note }}", missing_value_policy="fail")
    event = trigger(data_event)
    events_deliver(event_pks=[event.pk])
    event.refresh_from_db()
    assert event.status == EventStatus.DELIVERY_FAILED
    assert event.error == "Rendering failed: text: the value note is missing"
    assert DeliveryAttempt.objects.filter(event=event).count() == 1
    assert smtp.messages == []


def test_a_version_published_before_the_checks_fails_its_events_at_once(data_event, smtp):
    """A version frozen before publish refused such templates: the sandbox refuses at render,
    and the event ends at once instead of being tried again."""
    message = data_event.message
    content = {**message.published_version.content, "html": "", "text": "{{ '{:>9}'.format(ctx.firstName) }}"}
    version = MessageVersion.objects.create(message=message, number=2, content=content)
    message.published_version = version
    message.save(update_fields=["published_version"])
    event = trigger(data_event)
    events_deliver(event_pks=[event.pk])
    event.refresh_from_db()
    assert event.status == EventStatus.DELIVERY_FAILED
    assert event.error == (
        "Rendering failed: text: the sandbox refused an operation: "
        "str.format is not available: use the format_* filters"
    )
    assert DeliveryAttempt.objects.filter(event=event).count() == 1


@pytest.mark.parametrize(
    "source",
    [
        "{{ 0 ** -1 }}",
        "{% for i in range(0 ** -1) %}{% endfor %}",
        "{{ range(1, 10, 0) }}",
        "{{ 2 ** -2 * 'x' }}",
    ],
)
def test_a_constant_the_check_cannot_compute_is_left_to_the_render(source):
    from messages_app.rendering import reach_check

    assert reach_check(part="text", source=source) == []
