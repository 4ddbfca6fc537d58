"""Publish-time checks of a version's content: the syntax of its templates (compiled, so an
unknown filter or test is an error too) and its locale codes. The check of the variables a
template reads against the event's data structure is `messages_app.analysis`.
"""

from babel import Locale, UnknownLocaleError
from django.utils.translation import gettext
from jinja2 import TemplateSyntaxError

from campaign.exceptions import FieldError

from .content import CHANNEL_PARTS, HTML_PARTS, VARIANT_PARTS
from .sandbox import _env


def content_check(*, channel: str, content: dict) -> list[FieldError]:
    """Syntax errors of each templated part of the channel and its variants, with the part and line."""
    errors = []
    for path, source in template_sources(channel=channel, content=content):
        try:
            # Compiling, not only parsing: an unknown filter or test is an error here too.
            _env(html=path.split(".")[-1] in HTML_PARTS).compile(source)
        except TemplateSyntaxError as exc:
            message = gettext("line {number}: {message}").format(number=exc.lineno, message=exc.message)
            errors.append(FieldError(path, message))
    return errors


def template_sources(*, channel: str, content: dict) -> list[tuple[str, str]]:
    """(path, source) of every non-empty template of the channel, variants included."""
    sources = [(part, content.get(part) or "") for part in CHANNEL_PARTS[channel]]
    if channel == "push":
        sources += [
            (f"push_custom_data.{key}", str(value))
            for key, value in (content.get("push_custom_data") or {}).items()
        ]
    for language, variant in sorted((content.get("variants") or {}).items()):
        sources += [
            (f"variants.{language}.{part}", variant.get(part) or "")
            for part in CHANNEL_PARTS[channel]
            if part in VARIANT_PARTS
        ]
    return [(path, source) for path, source in sources if source]


def locale_check(*, locale: str) -> str | None:
    """Why a locale code is unusable, or None."""
    try:
        Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return gettext("{locale!r} is not a known locale (e.g. en, en_US, fr_FR).").format(locale=locale)

    return None
