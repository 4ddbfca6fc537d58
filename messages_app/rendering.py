"""Personalisation in Jinja2's immutable sandbox.

Marketers are untrusted template authors: the sandbox refuses access to object internals,
and the HTML part escapes every value taken from the event.
"""

from dataclasses import dataclass
from functools import lru_cache

from jinja2 import TemplateError, TemplateSyntaxError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from campaign.exceptions import ApplicationError, FieldError

EMAIL_PARTS = ("subject", "html", "text")

_html_env = ImmutableSandboxedEnvironment(autoescape=True)
_plain_env = ImmutableSandboxedEnvironment(autoescape=False)


def _env(part: str) -> ImmutableSandboxedEnvironment:
    return _html_env if part == "html" else _plain_env


def content_check(*, content: dict) -> list[FieldError]:
    """Syntax errors of each part, with the part and line."""
    errors = []
    for part in EMAIL_PARTS:
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
    subject: str
    html: str
    text: str


@lru_cache(maxsize=512)
def _compiled(part: str, source: str):
    # Published versions are immutable, so the source text is a safe cache key.
    return _env(part).from_string(source)


def email_render(*, content: dict, ctx: dict) -> RenderedEmail:
    context = {"ctx": ctx}
    try:
        rendered = {part: _compiled(part, content.get(part) or "").render(context) for part in EMAIL_PARTS}
    except TemplateSyntaxError as exc:
        raise ApplicationError(f"The template does not compile (line {exc.lineno}): {exc.message}") from exc
    except (TemplateError, TypeError, ValueError, ArithmeticError, OverflowError) as exc:
        # The sandbox refused an operation, or the template misused a value from the event.
        raise ApplicationError(f"The template could not be rendered: {exc}", code="render_failed") from exc
    # A subject is one line: newlines in event data would break the header.
    subject = " ".join(rendered["subject"].split())
    return RenderedEmail(subject=subject, html=rendered["html"], text=rendered["text"])
