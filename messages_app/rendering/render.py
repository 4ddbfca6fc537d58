"""Rendering a version's content for one event.

`message_render` is what the worker calls; it picks the language variant, applies the message's
missing-value policy and locale, inlines the CSS and derives the text part when it is empty.
"""

import time
from dataclasses import dataclass, field
from functools import lru_cache

import css_inline
from django.utils.translation import gettext
from jinja2 import TemplateError, TemplateSyntaxError, UndefinedError

from campaign.exceptions import ApplicationError

from .content import HTML_PARTS, VARIANT_PARTS, MissingValuePolicy
from .filters import DEFAULT_LOCALE, LOCALE_VAR
from .plaintext import text_from_html
from .sandbox import (
    MAX_OUTPUT_CHARS,
    MAX_RENDER_SECONDS,
    TemplateLimitExceeded,
    _Budget,
    _budget,
    _env,
    _tick,
)


@dataclass(frozen=True)
class RenderedEmail:
    sender_name: str
    sender_email: str
    subject: str
    html: str
    text: str
    reply_to: str = ""
    preheader: str = ""
    language: str = ""


@dataclass(frozen=True)
class RenderedSms:
    text: str
    language: str = ""


@dataclass(frozen=True)
class RenderedPush:
    title: str
    body: str
    deep_link: str = ""
    data: dict[str, str] = field(default_factory=dict)
    badge: int | None = None
    sound: str = ""
    language: str = ""


Rendered = RenderedEmail | RenderedSms | RenderedPush


def _language_key(language: object) -> str:
    return str(language or "").strip().lower().replace("-", "_")


def variant_select(*, content: dict, language: object) -> tuple[dict, str, str]:
    """(the content with the variant's parts, its language ('' for the default), its locale).

    `fr_CA` picks the `fr_CA` variant, else `fr`, else the default content."""
    variants = {_language_key(key): (key, value) for key, value in (content.get("variants") or {}).items()}
    wanted = _language_key(language)
    for candidate in (wanted, wanted.split("_")[0]) if wanted else ():
        if candidate in variants:
            key, variant = variants[candidate]
            merged = {**content, **{part: variant[part] for part in VARIANT_PARTS if variant.get(part)}}
            return merged, key, variant.get("locale") or key
    return content, "", content.get("locale") or DEFAULT_LOCALE


@lru_cache(maxsize=1024)
def _compiled(*, html: bool, policy: str, default: str, source: str):
    # Published versions are immutable, so (source, policy) is a safe cache key: each template
    # of a version is compiled once per worker process.
    return _env(html=html, policy=policy, default=default).from_string(source)


def _render(*, path: str, source: str, context: dict, policy: str, default: str) -> str:
    if not source:
        return ""
    html = path.split(".")[-1] in HTML_PARTS
    token = _budget.set(_Budget(deadline=time.monotonic() + MAX_RENDER_SECONDS))
    try:
        output, size = [], 0
        for chunk in _compiled(html=html, policy=policy, default=default, source=source).generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateLimitExceeded(f"an output longer than {MAX_OUTPUT_CHARS} characters")
            _tick()
            output.append(chunk)
        return "".join(output)
    except TemplateSyntaxError as exc:
        raise ApplicationError(
            gettext("{path}: the template does not compile (line {lineno}): {message}").format(
                path=path, lineno=exc.lineno, message=exc.message
            ),
            code="render_failed",
        ) from exc
    except UndefinedError as exc:
        raise ApplicationError(f"{path}: {exc.message}", code="missing_value") from exc
    except TemplateLimitExceeded as exc:
        raise ApplicationError(
            gettext("{path}: the template went beyond a limit: {exc}").format(path=path, exc=exc),
            code="render_limit",
        ) from exc
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError, RecursionError) as exc:
        # The sandbox refused an operation, or the template misused a value from the event.
        raise ApplicationError(
            gettext("{path}: the template could not be rendered: {exc}").format(path=path, exc=exc),
            code="render_failed",
        ) from exc
    finally:
        _budget.reset(token)


_inliner = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)
PREHEADER_HTML = (
    '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all" aria-hidden="true">{}</div>'
)


def _email_html(html: str, preheader: str) -> str:
    if not html:
        return ""
    if "<style" in html.lower():
        try:
            # Webmail clients drop <style>: the rules are copied into style attributes. Remote
            # stylesheets are never fetched (that would let a template make the worker call out).
            html = _inliner.inline(html)
        except ValueError as exc:
            raise ApplicationError(
                gettext("html: the CSS could not be inlined: {exc}").format(exc=exc), code="render_failed"
            ) from exc
    if preheader:
        hidden = PREHEADER_HTML.format(preheader)
        opening = html.lower().find("<body")
        end = html.find(">", opening) + 1 if opening >= 0 else 0
        html = html[:end] + hidden + html[end:]
    return html


def message_render(*, channel: str, content: dict, context: dict, language: str | None = None) -> Rendered:
    """Render a version's content for one event. `context` holds the template's top-level
    variables: `ctx` (the event's fields) and the enrichment data. The language variant is chosen
    by `language` when given (e.g. a targeted profile's language), else by `ctx.AC_language`."""
    ctx = context.get("ctx") if isinstance(context.get("ctx"), dict) else {}
    wanted = language if language is not None else ctx.get("AC_language")
    content, language, locale = variant_select(content=content, language=wanted)
    policy = content.get("missing_value_policy") or MissingValuePolicy.EMPTY
    default = content.get("missing_value_default") or ""
    variables = {**context, LOCALE_VAR: locale.replace("-", "_")}

    def render(part: str) -> str:
        return _render(
            path=part, source=content.get(part) or "", context=variables, policy=policy, default=default
        )

    if channel == "email":
        html = render("html")
        preheader = " ".join(render("preheader").split())
        text = render("text") if (content.get("text") or "").strip() else ""
        return RenderedEmail(
            sender_name=content.get("sender_name", ""),
            sender_email=content.get("sender_email", ""),
            # A subject is one line: newlines in event data would break the header.
            subject=" ".join(render("subject").split()),
            html=_email_html(html, preheader),
            text=text or (text_from_html(html) if html else ""),
            reply_to=content.get("reply_to", ""),
            preheader=preheader,
            language=language,
        )
    if channel == "sms":
        return RenderedSms(text=render("sms_text"), language=language)
    return RenderedPush(
        title=render("push_title"),
        body=render("push_body"),
        deep_link=render("push_deep_link").strip(),
        data={
            str(key): _render(
                path=f"push_custom_data.{key}",
                source=str(value),
                context=variables,
                policy=policy,
                default=default,
            )
            for key, value in (content.get("push_custom_data") or {}).items()
        },
        badge=content.get("push_badge"),
        sound=content.get("push_sound", ""),
        language=language,
    )
