"""Personalisation in Jinja2's immutable sandbox.

Marketers are untrusted template authors: the sandbox refuses access to object internals,
and the HTML part escapes every value taken from the event.
"""

from dataclasses import dataclass, field
from functools import lru_cache

from jinja2 import TemplateError, TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from campaign.exceptions import ApplicationError, FieldError

_html_env = ImmutableSandboxedEnvironment(autoescape=True)
_plain_env = ImmutableSandboxedEnvironment(autoescape=False)


# The templated parts of a version's content, per channel.
CHANNEL_PARTS = {
    "email": ("subject", "html", "text"),
    "sms": ("sms_text",),
    "push": ("push_title", "push_body", "push_deep_link"),
}


def _env(part: str) -> ImmutableSandboxedEnvironment:
    return _html_env if part == "html" else _plain_env


def content_check(*, channel: str, content: dict) -> list[FieldError]:
    """Syntax errors of each templated part of the channel, with the part and line."""
    errors = []
    for part in CHANNEL_PARTS[channel]:
        try:
            _env(part).parse(content.get(part) or "")
        except TemplateSyntaxError as exc:
            errors.append(FieldError(part, f"line {exc.lineno}: {exc.message}"))
    return errors


def referenced_ctx_fields(*, source: str) -> set[str]:
    """The `ctx.<name>` attributes a template reads (static analysis, no render)."""
    tree = _plain_env.parse(source)
    return {
        node.attr
        for node in tree.find_all(nodes.Getattr)
        if isinstance(node.node, nodes.Name) and node.node.name == "ctx"
    }


@dataclass(frozen=True)
class RenderedEmail:
    sender_name: str
    sender_email: str
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class RenderedSms:
    text: str


@dataclass(frozen=True)
class RenderedPush:
    title: str
    body: str
    deep_link: str = ""
    data: dict[str, str] = field(default_factory=dict)
    badge: int | None = None
    sound: str = ""


Rendered = RenderedEmail | RenderedSms | RenderedPush


@lru_cache(maxsize=512)
def _compiled(part: str, source: str):
    # Published versions are immutable, so the source text is a safe cache key.
    return _env(part).from_string(source)


def _render(part: str, source: str, context: dict) -> str:
    try:
        return _compiled(part, source or "").render(context)
    except TemplateSyntaxError as exc:
        raise ApplicationError(
            f"{part}: the template does not compile (line {exc.lineno}): {exc.message}"
        ) from exc
    except (TemplateError, TypeError, ValueError, ArithmeticError, OverflowError) as exc:
        # The sandbox refused an operation, or the template misused a value from the event.
        raise ApplicationError(
            f"{part}: the template could not be rendered: {exc}", code="render_failed"
        ) from exc


def message_render(*, channel: str, content: dict, context: dict) -> Rendered:
    """Render a version's content for one event. `context` holds the template's top-level
    variables: `ctx` (the event's fields) and the enrichment data."""
    parts = {part: _render(part, content.get(part, ""), context) for part in CHANNEL_PARTS[channel]}
    if channel == "email":
        return RenderedEmail(
            sender_name=content.get("sender_name", ""),
            sender_email=content.get("sender_email", ""),
            # A subject is one line: newlines in event data would break the header.
            subject=" ".join(parts["subject"].split()),
            html=parts["html"],
            text=parts["text"],
        )
    if channel == "sms":
        return RenderedSms(text=parts["sms_text"])
    return RenderedPush(
        title=parts["push_title"],
        body=parts["push_body"],
        deep_link=parts["push_deep_link"],
        data={
            str(key): _render("push_custom_data", str(value), context)
            for key, value in (content.get("push_custom_data") or {}).items()
        },
        badge=content.get("push_badge"),
        sound=content.get("push_sound", ""),
    )
