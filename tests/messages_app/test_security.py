"""Marketers are untrusted template authors, event data is untrusted input: injection attempts
fail safely (a validation error or a bounded render), never run code or leak configuration."""

import pytest
from django.conf import settings

from campaign.exceptions import ApplicationError, ValidationFailed
from messages_app.rendering import MAX_OUTPUT_CHARS, message_render
from messages_app.services import message_publish, message_update


def render(source: str, ctx=None, part="sms_text", channel="sms"):
    rendered = message_render(channel=channel, content={part: source}, context={"ctx": ctx or {}})
    return rendered.html if part == "html" else rendered.text


SSTI = [
    # Object internals and the way to Python's builtins, os and subprocess.
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ctx.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__['__builtins__']['__import__']('os').system('id') }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ range.__self__ }}",
    "{{ ctx|attr('__class__') }}",
    "{% set x = ''|attr('__class__') %}{{ x.__base__.__subclasses__() }}",
    # Configuration and the ORM: nothing of Django is in the context.
    "{{ settings.SECRET_KEY }}{{ config }}{{ request }}{{ self.__dict__ }}",
    "{{ ctx.objects.all() }}",
]


class TestTemplateInjection:
    @pytest.mark.parametrize("source", SSTI)
    def test_access_to_internals_fails_or_renders_nothing(self, source):
        try:
            output = render(source)
        except ApplicationError as exc:
            assert exc.code in {"render_failed", "missing_value"}
            output = exc.message
        assert "uid=" not in output
        assert settings.SECRET_KEY not in output
        assert "<class" not in output and "function" not in output and "module" not in output

    @pytest.mark.parametrize("number", ["1e999999999", "-1E+400000", "NaN", "Infinity"])
    def test_an_extreme_number_from_the_event_is_refused_not_written_out(self, number):
        with pytest.raises(ApplicationError, match="is not a number in the usual range"):
            render("{{ ctx.price|format_currency('EUR') }}", ctx={"price": number})

    def test_a_dict_method_is_not_reachable_through_event_data(self):
        assert render("{{ ctx.clear }}{{ ctx.pop }}", ctx={"a": "1"}) == ""

    def test_the_immutable_sandbox_refuses_changing_event_data(self):
        with pytest.raises(ApplicationError, match="unsafe"):
            render("{{ ctx.list.append(1) }}", ctx={"list": []})

    def test_format_and_percent_formatting_are_refused(self):
        with pytest.raises(ApplicationError, match=r"str\.format is not available"):
            render("{{ '{:>999999999}'.format(1) }}")
        with pytest.raises(ApplicationError, match="%-formatting of text is not available"):
            render("{{ '%999999999s' % 1 }}")

    def test_publish_refuses_an_injection_attempt_then_unknown_variables(self, cart_event):
        message_update(
            message=cart_event.message, text="{{ cycler.__init__.__globals__ }}{{ config.items() }}"
        )
        with pytest.raises(ValidationFailed, match=r"text: line 1: cycler is not available in messages"):
            message_publish(message=cart_event.message)
        message_update(message=cart_event.message, text="{{ config.items() }}")
        with pytest.raises(ValidationFailed, match=r"text: line 1: config is not defined"):
            message_publish(message=cart_event.message)


class TestBoundedRender:
    @pytest.mark.parametrize(
        ("source", "reason"),
        [
            ("{{ 'a' * 10**9 }}", "longer than"),
            ("{{ 9**9**9 }}", "exponent larger than 64|number too large"),
            ("{{ 10**60 * 10**60 * 10**60 }}", "number too large"),
            (
                "{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}",
                "loop iterations",
            ),
            ("{% for a in range(100000) %}{% endfor %}", r"range\(\) is limited"),
            ("{% set a = 'x' * 100000 %}{% set b = a ~ a %}{% set c = b ~ b %}{{ c }}", "longer than"),
            ("{% macro f(s) %}{{ f(s ~ s) }}{% endmacro %}{{ f('ab') }}", "longer than"),
            ("{{ range(100)|join('x' * 100000) }}", "longer than"),
            ("{{ 'x'|replace('', 'y' * 100000) }}", "longer than"),
            ("{{ ('x' * 100000)|replace('', 'y' * 100000) }}", "longer than"),
            ("{{ range(1000)|map('string')|join('x' * 100000) }}", "longer than"),
            ("{{ ['x' * 100000] * 100000 }}", "longer than"),
            ("{% set a = ['x' * 100000] %}{{ (a * 1000)|join }}", "longer than"),
            ("{% set a = ['x' * 100000] %}{{ a + a + a }}", "longer than"),
            ("{{ range(1000)|list|tojson(100000) }}", "argument too large"),
            ("{{ [1]|batch(999999999, 'x')|list }}", "argument too large"),
            ("{% set x = 'x' * 100000 %}{% for i in range(1000) %}{{ x }}{% endfor %}", "output longer"),
            ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "maximum recursion depth"),
        ],
    )
    def test_huge_loops_and_exponential_output_stop_at_a_bound(self, source, reason):
        with pytest.raises(ApplicationError, match=reason) as caught:
            render(source)
        assert caught.value.code in {"render_limit", "render_failed"}

    def test_output_below_the_bound_is_rendered(self):
        assert (
            len(render("{% for i in range(100) %}{{ 'x' * 1000 }}{% endfor %}")) == 100_000 < MAX_OUTPUT_CHARS
        )

    def test_padding_filters_are_not_available(self):
        with pytest.raises(ApplicationError, match="No filter named 'center'"):
            render("{{ 'a'|center(999999999) }}")


@pytest.mark.django_db
class TestEventDataInHtml:
    def test_event_html_and_script_are_escaped(self):
        hostile = '<script>alert(1)</script><img src=x onerror="alert(2)">'
        html = render("<p>{{ ctx.name }}</p>", ctx={"name": hostile}, part="html", channel="email")
        assert "<script>" not in html and "<img" not in html
        assert html == (
            "<p>&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&#34;alert(2)&#34;&gt;</p>"
        )

    def test_event_data_cannot_break_out_of_an_attribute(self):
        html = render(
            '<a href="{{ ctx.url }}">x</a>', ctx={"url": '" onclick="alert(1)'}, part="html", channel="email"
        )
        assert html == '<a href="&#34; onclick=&#34;alert(1)">x</a>'

    def test_escaping_cannot_be_turned_off(self, cart_event):
        with pytest.raises(ApplicationError, match="No filter named 'safe'"):
            render("{{ ctx.name|safe }}", ctx={"name": "<script>"}, part="html", channel="email")
        message_update(
            message=cart_event.message,
            html="<p>\n{% autoescape false %}{{ ctx.firstName }}{% endautoescape %}",
        )
        with pytest.raises(ValidationFailed, match="html: line 2: autoescape cannot be turned off"):
            message_publish(message=cart_event.message)

    def test_urls_in_event_text_are_not_turned_into_links(self):
        html = render(
            "<p>{{ ctx.note }}</p>",
            ctx={"note": "visit https://evil.example now"},
            part="html",
            channel="email",
        )
        assert "<a" not in html and "href" not in html
        with pytest.raises(ApplicationError, match="No filter named 'urlize'"):
            render(
                "{{ ctx.note|urlize }}", ctx={"note": "https://evil.example"}, part="html", channel="email"
            )

    def test_a_url_is_placed_where_the_marketer_put_it(self):
        html = render(
            '<a href="https://shop.example/cart/{{ ctx.cartId|urlencode }}">Cart</a>',
            ctx={"cartId": "42/../admin?x=1"},
            part="html",
            channel="email",
        )
        assert html == '<a href="https://shop.example/cart/42/../admin%3Fx%3D1">Cart</a>'
