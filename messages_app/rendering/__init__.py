"""Personalisation in a bounded Jinja2 sandbox (what it refuses and bounds: `sandbox`).

`message_render` is what the worker calls; it picks the language variant, applies the message's
missing-value policy and locale, inlines the CSS and derives the text part when it is empty.

Modules, each importing only those before it:
- `content`: the templated parts of each channel, the variant and HTML parts, the missing-value
  policies;
- `filters`: the locale-aware filters (format_date, format_currency, ...);
- `sandbox`: the bounded sandbox, its limits, what a template may call, the environments;
- `checks`: publish-time checks (template syntax, what templates reach beyond the data, locale
  codes);
- `render`: rendering a version's content for one event (variants, CSS inlining, text part).

The names the rest of the code imports from `messages_app.rendering` are re-exported here.
"""

from .checks import content_check, locale_check, reach_check, template_sources
from .content import VARIANT_PARTS, MissingValuePolicy
from .render import Rendered, RenderedEmail, RenderedPush, RenderedSms, RenderError, message_render
from .render import _compiled as _compiled  # tests and bench/render.py clear this cache
from .sandbox import MAX_OUTPUT_CHARS, BoundedSandbox

__all__ = [
    "MAX_OUTPUT_CHARS",
    "VARIANT_PARTS",
    "BoundedSandbox",
    "MissingValuePolicy",
    "RenderError",
    "Rendered",
    "RenderedEmail",
    "RenderedPush",
    "RenderedSms",
    "content_check",
    "locale_check",
    "message_render",
    "reach_check",
    "template_sources",
]
