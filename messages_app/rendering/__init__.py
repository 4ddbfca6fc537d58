"""Personalisation in a bounded Jinja2 sandbox (see `sandbox`).

The names the rest of the code imports from `messages_app.rendering` are re-exported here, so
that callers do not depend on the module that defines them.
"""

from .sandbox import (
    MAX_OUTPUT_CHARS,
    VARIANT_PARTS,
    BoundedSandbox,
    MissingValuePolicy,
    Rendered,
    RenderedEmail,
    RenderedPush,
    RenderedSms,
    content_check,
    locale_check,
    message_render,
    template_sources,
)

# Tests and bench/render.py clear the compiled-template cache as `rendering._compiled`.
from .sandbox import _compiled as _compiled

__all__ = [
    "MAX_OUTPUT_CHARS",
    "VARIANT_PARTS",
    "BoundedSandbox",
    "MissingValuePolicy",
    "Rendered",
    "RenderedEmail",
    "RenderedPush",
    "RenderedSms",
    "content_check",
    "locale_check",
    "message_render",
    "template_sources",
]
