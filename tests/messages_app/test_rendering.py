"""Rendering of published content: loops, conditionals, locale filters, variants, missing values."""

import pytest

from campaign.exceptions import ApplicationError
from messages_app.rendering import RenderedEmail, message_render
from messages_app.sms import sms_length

CART = {
    "firstName": "Jane",
    "orderDate": "2026-12-24T18:30:00",
    "total": "1234.5",
    "items": [
        {"name": "Jacket", "price": "120"},
        {"name": "Scarf", "price": "19.9"},
        {"name": "Boots", "price": "89"},
    ],
}
LIST_HTML = (
    "{% for item in ctx['items'][:2] %}"
    "{% if loop.first %}<h2>{{ item.name }}</h2>{% else %}<p>{{ item.name }}</p>{% endif %}"
    "{{ item.price|format_currency('EUR') }};"
    "{% else %}<p>Your cart is empty.</p>{% endfor %}"
)


def email(ctx=CART, **content) -> RenderedEmail:
    base = {"subject": "Hi", "html": "", "text": "", "locale": "en_US"}
    return message_render(channel="email", content={**base, **content}, context={"ctx": ctx})


class TestLoops:
    def test_first_item_and_maximum_items(self):
        html = email(html=LIST_HTML).html
        assert html == "<h2>Jacket</h2>€120.00;<p>Scarf</p>€19.90;"

    def test_fallback_when_the_collection_is_empty(self):
        assert email(ctx={**CART, "items": []}, html=LIST_HTML).html == "<p>Your cart is empty.</p>"

    def test_fallback_when_the_collection_is_missing(self):
        ctx = {"firstName": "Jane"}
        assert (
            email(ctx=ctx, html=LIST_HTML, missing_value_policy="fail").html == "<p>Your cart is empty.</p>"
        )

    def test_a_collection_named_items_is_the_events_not_the_dicts_method(self):
        assert email(html="{{ ctx.items|length }} {{ (ctx.items|first).name }}").html == "3 Jacket"


class TestConditionals:
    def test_if_else(self):
        source = "{% if ctx.total|float > 1000 %}Free shipping{% else %}Shipping: 5 €{% endif %}"
        assert email(text=source).text == "Free shipping"
        assert email(ctx={**CART, "total": "10"}, text=source).text == "Shipping: 5 €"


class TestLocaleFilters:
    @pytest.mark.parametrize(
        ("locale", "expected"),
        [
            ("en_US", "Dec 24, 2026 · 1,234.5 · $1,234.50"),
            ("fr_FR", "24 déc. 2026 · 1\u202f234,5 · 1\u202f234,50\xa0$US"),
            ("de_DE", "24.12.2026 · 1.234,5 · 1.234,50\xa0$"),
        ],
    )
    def test_dates_numbers_and_currency_follow_the_messages_locale(self, locale, expected):
        source = (
            "{{ ctx.orderDate|format_date }} · {{ ctx.total|format_number }} · "
            "{{ ctx.total|format_currency('USD') }}"
        )
        assert email(text=source, locale=locale).text == expected

    def test_long_date_and_datetime_with_time_zone(self):
        source = (
            "{{ ctx.orderDate|format_date('long') }} | "
            "{{ '2026-12-24T18:30:00+00:00'|format_datetime('short', tz='Europe/Paris') }}"
        )
        assert email(text=source, locale="fr_FR").text == "24 décembre 2026 | 24/12/2026 19:30"

    def test_a_value_that_is_not_a_number_fails_with_a_clear_error(self):
        with pytest.raises(ApplicationError, match="'abc' is not a number"):
            email(ctx={"total": "abc"}, text="{{ ctx.total|format_number }}")


class TestLanguageVariants:
    CONTENT = {
        "subject": "Your order",
        "text": "Total {{ ctx.total|format_number }}",
        "locale": "en_US",
        "variants": {
            "fr": {"subject": "Votre commande", "text": "Total {{ ctx.total|format_number }}"},
            "de_AT": {"subject": "Ihre Bestellung", "text": ""},
        },
    }

    def render(self, language):
        ctx = {**CART, "AC_language": language} if language else CART
        return message_render(channel="email", content=self.CONTENT, context={"ctx": ctx})

    def test_the_variant_of_the_language_is_used_with_its_locale(self):
        rendered = self.render("fr")
        assert (rendered.subject, rendered.text, rendered.language) == (
            "Votre commande",
            "Total 1\u202f234,5",
            "fr",
        )

    def test_a_regional_language_falls_back_to_its_language(self):
        assert self.render("fr-CA").subject == "Votre commande"

    def test_an_empty_part_of_a_variant_falls_back_to_the_default_content(self):
        rendered = self.render("de_AT")
        assert rendered.subject == "Ihre Bestellung"
        assert rendered.text == "Total 1.234,5"  # the default text, in the variant's locale

    def test_a_language_given_by_the_caller_wins_over_ac_language(self):
        rendered = message_render(
            channel="email",
            content=self.CONTENT,
            context={"ctx": {**CART, "AC_language": "fr"}},
            language="de-AT",
        )
        assert rendered.subject == "Ihre Bestellung"

    def test_an_unknown_or_absent_language_falls_back_to_the_default(self):
        assert self.render("es").subject == "Your order"
        assert self.render(None).subject == "Your order"


class TestMissingValuePolicy:
    def test_fail_refuses_the_event_and_names_the_value(self):
        with pytest.raises(ApplicationError, match="coupon is missing"):
            email(text="Code: {{ ctx.coupon }}", missing_value_policy="fail")

    def test_fail_still_allows_testing_an_optional_value(self):
        source = "{% if ctx.coupon %}Code {{ ctx.coupon }}{% else %}No code{% endif %}"
        assert email(text=source, missing_value_policy="fail").text == "No code"

    def test_empty_renders_nothing(self):
        assert email(text="Code: [{{ ctx.coupon }}]", missing_value_policy="empty").text == "Code: []"

    def test_default_renders_the_default_text(self):
        rendered = email(
            ctx={"firstName": None},
            text="Hello {{ ctx.firstName }}, code {{ ctx.coupon }}",
            missing_value_policy="default",
            missing_value_default="friend",
        )
        assert rendered.text == "Hello friend, code friend"

    def test_the_default_filter_of_one_value_wins(self):
        assert email(text="{{ ctx.coupon|default('none') }}", missing_value_policy="fail").text == "none"


class TestEmailParts:
    def test_css_is_inlined_and_remote_stylesheets_are_not_fetched(self):
        html = email(
            html='<html><head><link rel="stylesheet" href="http://192.0.2.1/x.css">'
            "<style>p { color: red }</style></head><body><p>Hi</p></body></html>"
        ).html
        assert '<p style="color: red;">Hi</p>' in html
        assert "<style" not in html

    def test_text_is_generated_from_html_when_empty(self):
        rendered = email(
            html="<h1>Hello {{ ctx.firstName }}</h1>"
            '<p>See <a href="https://shop.example/cart">your cart</a></p>'
        )
        assert rendered.text == "Hello Jane\n\nSee your cart (https://shop.example/cart)\n"

    def test_preheader_is_a_hidden_block_at_the_top_of_the_body(self):
        rendered = email(html="<html><body><p>Hi</p></body></html>", preheader="Only for {{ ctx.firstName }}")
        assert rendered.preheader == "Only for Jane"
        hidden = '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all" aria-hidden="true">'
        assert f"<body>{hidden}Only for Jane</div><p>Hi</p>" in rendered.html

    def test_sender_and_reply_to(self):
        rendered = email(
            sender_name="Shop", sender_email="shop@example.com", reply_to="care@example.com", text="x"
        )
        assert (rendered.sender_name, rendered.sender_email, rendered.reply_to) == (
            "Shop",
            "shop@example.com",
            "care@example.com",
        )

    def test_subject_is_one_line(self):
        assert (
            email(ctx={"firstName": "Jane\r\nBcc: x@evil.example"}, subject="Hi {{ ctx.firstName }}").subject
            == "Hi Jane Bcc: x@evil.example"
        )


class TestSmsAndPush:
    def test_sms(self):
        rendered = message_render(
            channel="sms", content={"sms_text": "Hi {{ ctx.firstName }}"}, context={"ctx": CART}
        )
        assert rendered.text == "Hi Jane"

    def test_push(self):
        content = {
            "push_title": "{{ ctx.firstName }}",
            "push_body": "{{ ctx['items']|length }} items",
            "push_deep_link": "shop://cart",
            "push_custom_data": {"screen": "cart", "who": "{{ ctx.firstName }}"},
            "push_badge": 3,
            "push_sound": "default",
        }
        rendered = message_render(channel="push", content=content, context={"ctx": CART})
        assert (rendered.title, rendered.body, rendered.deep_link) == ("Jane", "3 items", "shop://cart")
        assert (rendered.data, rendered.badge, rendered.sound) == (
            {"screen": "cart", "who": "Jane"},
            3,
            "default",
        )

    @pytest.mark.parametrize(
        ("text", "encoding", "units", "segments"),
        [
            ("", "GSM-7", 0, 0),
            ("a" * 160, "GSM-7", 160, 1),
            ("a" * 161, "GSM-7", 161, 2),
            ("€" * 80, "GSM-7", 160, 1),  # extension table: two septets each
            ("é" * 160, "GSM-7", 160, 1),  # é is in the basic table
            ("ç" * 70, "UCS-2", 70, 1),  # ç is not (only Ç is)
            ("ç" * 71, "UCS-2", 71, 2),
            ("😀" * 35, "UCS-2", 70, 1),  # a surrogate pair counts twice
        ],
    )
    def test_sms_length(self, text, encoding, units, segments):
        length = sms_length(text)
        assert (length.encoding, length.units, length.segments) == (encoding, units, segments)


def test_each_template_of_a_version_is_compiled_once_per_process():
    from messages_app import rendering

    content = {"subject": "Cached {{ ctx.firstName }}", "html": "<p>{{ ctx.total }}</p>", "text": "t"}
    rendering._compiled.cache_clear()
    for _ in range(5):
        message_render(channel="email", content=content, context={"ctx": CART})
    info = rendering._compiled.cache_info()
    assert (info.misses, info.hits) == (3, 12)


@pytest.mark.parametrize(
    ("policy", "expected"), [("empty", "Total: , on "), ("default", "Total: n/a, on n/a")]
)
def test_a_missing_value_through_a_locale_filter_follows_the_policy(policy, expected):
    rendered = email(
        ctx={"total": None},
        text="Total: {{ ctx.total|format_currency('EUR') }}, on {{ ctx.absent|format_date }}",
        missing_value_policy=policy,
        missing_value_default="n/a",
    )
    assert rendered.text == expected


def test_a_missing_value_through_a_locale_filter_fails_with_the_fail_policy():
    with pytest.raises(ApplicationError, match="total is missing"):
        email(ctx={}, text="{{ ctx.total|format_currency('EUR') }}", missing_value_policy="fail")


def test_ordinary_filters_still_work_within_the_bounds():
    source = "{{ ctx.firstName|replace('J', 'j') }}: {{ ctx['items']|map(attribute='name')|join(', ') }}"
    assert email(text=source).text == "jane: Jacket, Scarf, Boots"
