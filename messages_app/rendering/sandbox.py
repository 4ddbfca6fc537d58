"""Personalisation in a bounded Jinja2 sandbox.

Marketers are untrusted template authors and event data is untrusted input:
- the immutable sandbox refuses object internals (dunder attributes, methods that mutate, ...);
- only a short list of string methods may be called, and every value, call, loop and the output
  are bounded in size, count and time, so no template can exhaust the worker;
- the HTML part escapes every value taken from the event (autoescape), and event text is never
  turned into links (no `urlize`): URLs from the event appear only where the marketer put them.

`message_render` is what the worker calls; it picks the language variant, applies the message's
missing-value policy and locale, inlines the CSS and derives the text part when it is empty.
"""

import contextvars
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache, wraps

import css_inline
import html2text
from babel import Locale, UnknownLocaleError
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from jinja2 import (
    ChainableUndefined,
    TemplateError,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
    nodes,
    pass_context,
    pass_eval_context,
)
from jinja2.exceptions import SecurityError
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from campaign.exceptions import ApplicationError, FieldError

# Bounds of one render. Generous for any real message, small enough for a 2-core worker.
MAX_OUTPUT_CHARS = 1_000_000  # one part (the HTML of a long order confirmation is ~100 kB)
MAX_VALUE_CHARS = 200_000  # one printed value, string or list built by the template
MAX_ITERATIONS = 50_000  # loop iterations and calls, summed over the whole render
MAX_RANGE = 1_000  # range() in a template: item lists come from the event, not from range
MAX_RENDER_SECONDS = 2.0
MAX_INT_BITS = 256
MAX_FILTER_INT = 10_000  # a width, count or indent given to a filter (truncate(255), batch(3), ...)

DEFAULT_LOCALE = "en"


class MissingValuePolicy:
    # The event is not sent (deliveryFailed, with the missing value named).
    FAIL = "fail"
    # The missing value is rendered as nothing.
    EMPTY = "empty"
    # The missing value is replaced by the message's default text.
    DEFAULT = "default"

    choices = [
        (FAIL, "Fail the event"),
        (EMPTY, "Render nothing"),
        (DEFAULT, "Use the default text"),
    ]


# The templated parts of a version's content, per channel.
CHANNEL_PARTS = {
    "email": ("subject", "preheader", "html", "text"),
    "sms": ("sms_text",),
    "push": ("push_title", "push_body", "push_deep_link"),
}
# The parts a language variant may override (the sender and push settings are per message).
VARIANT_PARTS = ("subject", "preheader", "html", "text", "sms_text", "push_title", "push_body")
HTML_PARTS = frozenset({"html", "preheader"})


class TemplateLimitExceeded(SecurityError):
    """A template went beyond the bounds of one render."""


# --- Budget of the current render ---------------------------------------------------------


@dataclass
class _Budget:
    deadline: float
    steps: int = 0

    def tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_ITERATIONS:
            raise TemplateLimitExceeded(f"more than {MAX_ITERATIONS} loop iterations or calls")
        if time.monotonic() > self.deadline:
            raise TemplateLimitExceeded(f"rendering took longer than {MAX_RENDER_SECONDS} s")


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("render_budget", default=None)


def _tick() -> None:
    budget = _budget.get()
    if budget is not None:
        budget.tick()


def _weight(value: object, limit: int = MAX_VALUE_CHARS) -> int:
    """Characters and items of a value, nested ones included; stops counting past `limit`.

    Lengths alone are not enough: a list of 1,000 references to one 100,000-character string is
    short, but printing or joining it builds 100 million characters."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple | set | dict):
        total = len(value)
        for item in value.items() if isinstance(value, dict) else value:
            total += _weight(item, limit - total)
            if total > limit:
                break
        return total
    return 1


def _check_size(value: object) -> object:
    if isinstance(value, str | list | tuple | dict | set) and _weight(value) > MAX_VALUE_CHARS:
        raise TemplateLimitExceeded(f"a value longer than {MAX_VALUE_CHARS} characters or items")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise TemplateLimitExceeded("a number too large")
    return value


def _bounded_iter(iterable):
    for item in iterable:
        _tick()
        yield item


@pass_eval_context
def _bounded_concat(eval_ctx, *pieces):
    texts = [str(piece) for piece in pieces]
    if sum(map(len, texts)) > MAX_VALUE_CHARS:
        raise TemplateLimitExceeded(f"a value longer than {MAX_VALUE_CHARS} characters")
    return markup_join(pieces) if eval_ctx.autoescape else str_join(pieces)


def _bounded_range(*args):
    values = range(*args)
    if len(values) > MAX_RANGE:
        raise TemplateLimitExceeded(f"range() is limited to {MAX_RANGE} numbers")
    return values


class _Bound(NodeTransformer):
    """Route every loop through the iteration budget and every `~` through the size bound."""

    def visit_For(self, node: nodes.For) -> nodes.For:
        node = self.generic_visit(node)
        node.iter = nodes.Call(
            nodes.Name("mc_bounded_iter", "load", lineno=node.lineno),
            [node.iter],
            [],
            None,
            None,
            lineno=node.lineno,
        )
        return node

    def visit_EvalContextModifier(self, node: nodes.EvalContextModifier):
        # `{% autoescape false %}` would print event data as raw HTML.
        raise TemplateSyntaxError(
            "autoescape cannot be turned off: event data is always escaped", node.lineno
        )

    visit_ScopedEvalContextModifier = visit_EvalContextModifier

    def visit_Concat(self, node: nodes.Concat) -> nodes.Call:
        node = self.generic_visit(node)
        return nodes.Call(
            nodes.Name("mc_bounded_concat", "load", lineno=node.lineno),
            list(node.nodes),
            [],
            None,
            None,
            lineno=node.lineno,
        )


# String methods a marketer may call; the others can build huge strings or are never needed.
SAFE_STR_METHODS = frozenset(
    {
        "upper",
        "lower",
        "title",
        "capitalize",
        "casefold",
        "swapcase",
        "strip",
        "lstrip",
        "rstrip",
        "startswith",
        "endswith",
        "split",
        "rsplit",
        "splitlines",
        "partition",
        "rpartition",
        "count",
        "find",
        "rfind",
        "isdigit",
        "isalpha",
        "isalnum",
        "isnumeric",
        "isspace",
        "islower",
        "isupper",
    }
)
SAFE_CONTAINER_METHODS = frozenset({"index", "count"})
# Filters removed: they pad to any width (center, indent, format), turn event text into links
# (urlize) or into unescaped HTML (safe), or show Python's view of objects (pprint).
REMOVED_FILTERS = ("center", "indent", "format", "wordwrap", "urlize", "safe", "pprint")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options):
        super().__init__(**options)
        for name in REMOVED_FILTERS:
            self.filters.pop(name, None)
        self.filters = {
            name: _bounded_filter(func) for name, func in {**self.filters, **LOCALE_FILTERS}.items()
        }
        self.globals.pop("lipsum", None)
        self.globals.update(
            range=_bounded_range, mc_bounded_iter=_bounded_iter, mc_bounded_concat=_bounded_concat
        )

    def _parse(self, source, name, filename):
        tree = _Bound().visit(super()._parse(source, name, filename))
        tree.set_environment(self)
        return tree

    def getattr(self, obj, attribute):
        # Dicts are event data: `ctx.items` is the event's collection (or missing), never the
        # dict's method.
        if isinstance(obj, dict) and isinstance(attribute, str):
            return obj[attribute] if attribute in obj else self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj, argument):
        if isinstance(obj, dict) and isinstance(argument, str):
            return obj[argument] if argument in obj else self.undefined(obj=obj, name=argument)
        return super().getitem(obj, argument)

    def wrap_str_format(self, value):
        if super().wrap_str_format(value) is None:
            return None

        def refused(*args, **kwargs):
            # str.format pads to any width before a check could see the result.
            raise SecurityError("str.format is not available: use the format_* filters")

        return refused

    def is_safe_callable(self, obj) -> bool:
        owner = getattr(obj, "__self__", None)
        method = getattr(obj, "__name__", "")
        if isinstance(owner, str):
            return method in SAFE_STR_METHODS
        if isinstance(owner, dict | list | tuple):
            return method in SAFE_CONTAINER_METHODS
        return super().is_safe_callable(obj)

    def call(__self, __context, __obj, *args, **kwargs):
        _tick()
        for value in (*args, *kwargs.values()):
            _check_size(value)
        return _check_size(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context, operator, left, right):
        _tick()
        if operator == "%" and isinstance(left, str):
            raise SecurityError("%-formatting of text is not available: use the format_* filters")
        if operator == "**":
            if not isinstance(right, int | float) or abs(right) > 64:
                raise TemplateLimitExceeded("an exponent larger than 64")
            if isinstance(left, int) and left.bit_length() * max(int(right), 1) > MAX_INT_BITS:
                raise TemplateLimitExceeded("a number too large")
        too_long = TemplateLimitExceeded(f"a value longer than {MAX_VALUE_CHARS} characters")
        sequences = str | list | tuple
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, sequences)
                    and isinstance(times, int)
                    and _weight(seq) * times > MAX_VALUE_CHARS
                ):
                    raise too_long
            both_ints = isinstance(left, int) and isinstance(right, int)
            if both_ints and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise TemplateLimitExceeded("a number too large")
        both_sequences = isinstance(left, sequences) and isinstance(right, sequences)
        if operator == "+" and both_sequences and _weight(left) + _weight(right) > MAX_VALUE_CHARS:
            raise too_long
        return _check_size(super().call_binop(context, operator, left, right))


def _bounded_filter(func):
    """Refuse size arguments beyond the bounds before the filter allocates, and check its result."""
    pass_arg = getattr(func, "jinja_pass_arg", None)
    too_long = f"a value longer than {MAX_VALUE_CHARS} characters"

    def bounded(*args, **kwargs):
        _tick()
        # The context argument (if any), the filtered value, then the filter's own arguments.
        head, positional = (args[:1], args[1:]) if pass_arg is not None else ((), args)
        value, arguments = positional[0], positional[1:]
        for argument in (*arguments, *kwargs.values()):
            _check_size(argument)
            if isinstance(argument, int) and abs(argument) > MAX_FILTER_INT:
                raise TemplateLimitExceeded("a filter argument too large")
        if func.__name__ == "do_join":
            if not isinstance(value, str | dict) and hasattr(value, "__iter__"):
                value = list(_bounded_iter(value))
                positional = (value, *arguments)
            separator = str(kwargs.get("d", arguments[0] if arguments else ""))
            if isinstance(value, list) and len(separator) * len(value) + _weight(value) > MAX_VALUE_CHARS:
                raise TemplateLimitExceeded(too_long)
        if func.__name__ == "do_replace":
            text = str(value)
            old = str(kwargs.get("old", arguments[0] if arguments else ""))
            new = str(kwargs.get("new", arguments[1] if len(arguments) > 1 else ""))
            occurrences = len(text) + 1 if old == "" else text.count(old)
            if len(text) + occurrences * max(len(new) - len(old), 0) > MAX_VALUE_CHARS:
                raise TemplateLimitExceeded(too_long)
        return _check_size(func(*head, *positional, **kwargs))

    if pass_arg is not None:
        bounded.jinja_pass_arg = pass_arg
    bounded.__name__ = func.__name__
    return bounded


# --- Locale-aware filters (Babel), with the message's locale -------------------------------

LOCALE_VAR = "mc_locale"


def _keeps_missing(func):
    """A missing value goes through the filter unchanged, so that printing it applies the
    message's missing-value policy (fail, empty or default) instead of a formatting error."""

    @wraps(func)
    def wrapper(context, value, *args, **kwargs):
        if value is None or isinstance(value, Undefined):
            return value
        return func(context, value, *args, **kwargs)

    return wrapper


@lru_cache(maxsize=256)
def _babel_locale(code: str) -> Locale:
    # Parsing a locale code costs more than formatting the value: once per locale per process.
    return Locale.parse(code)


def _locale(context) -> Locale:
    return _babel_locale(context.get(LOCALE_VAR) or DEFAULT_LOCALE)


def _as_decimal(value) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    # Event data is untrusted: 1e999999999 would be written out as a billion digits.
    if not number.is_finite() or abs(number.adjusted()) > 30:
        raise ValueError(f"{str(value)[:40]!r} is not a number in the usual range")
    return number


def _as_datetime(value) -> datetime | date:
    if isinstance(value, datetime | date):
        return value
    try:
        text = str(value).strip()
        return datetime.fromisoformat(text) if "T" in text or " " in text else date.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{value!r} is not an ISO 8601 date (e.g. 2026-12-24 or 2026-12-24T18:30:00Z)"
        ) from None


@pass_context
@_keeps_missing
def format_date(context, value, format="medium"):
    moment = _as_datetime(value)
    day = moment.date() if isinstance(moment, datetime) else moment
    return babel_dates.format_date(day, format=format, locale=_locale(context))


@pass_context
@_keeps_missing
def format_datetime(context, value, format="medium", tz=None):
    moment = _as_datetime(value)
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    zone = babel_dates.get_timezone(tz) if tz else None
    return babel_dates.format_datetime(moment, format=format, tzinfo=zone, locale=_locale(context))


@pass_context
@_keeps_missing
def format_number(context, value, format=None):
    return babel_numbers.format_decimal(_as_decimal(value), format=format, locale=_locale(context))


@pass_context
@_keeps_missing
def format_currency(context, value, currency="EUR", format=None):
    return babel_numbers.format_currency(
        _as_decimal(value), str(currency).upper(), format=format, locale=_locale(context)
    )


@pass_context
@_keeps_missing
def format_percent(context, value, format=None):
    return babel_numbers.format_percent(_as_decimal(value), format=format, locale=_locale(context))


LOCALE_FILTERS = {
    "format_date": format_date,
    "format_datetime": format_datetime,
    "format_number": format_number,
    "format_currency": format_currency,
    "format_percent": format_percent,
}


# --- Missing values -----------------------------------------------------------------------


class _EmptyUndefined(ChainableUndefined):
    """A missing value renders as nothing; `ctx.a.b` chains on a missing `a`."""


class _FailUndefined(ChainableUndefined):
    """Printing a missing value fails the render; testing it (`{% if %}`) or looping over it
    (the loop's `{% else %}` fallback) stays possible."""

    def __str__(self) -> str:
        raise UndefinedError(f"the value {self._undefined_name or 'of a variable'} is missing")

    __html__ = __str__

    def __iter__(self):
        return iter(())


@lru_cache(maxsize=64)
def _default_undefined(default: str) -> type:
    return type("_DefaultUndefined", (ChainableUndefined,), {"__str__": lambda self: default})


def _finalize_for(policy: str, default: str):
    def finalize(value):
        if value is None:
            if policy == MissingValuePolicy.FAIL:
                raise UndefinedError("a value of the event is empty (null)")
            value = default if policy == MissingValuePolicy.DEFAULT else ""
        return _check_size(value)

    return finalize


@lru_cache(maxsize=64)
def _env(*, html: bool, policy: str = MissingValuePolicy.EMPTY, default: str = "") -> BoundedSandbox:
    undefined = {
        MissingValuePolicy.FAIL: _FailUndefined,
        MissingValuePolicy.DEFAULT: _default_undefined(default),
    }.get(policy, _EmptyUndefined)
    return BoundedSandbox(autoescape=html, undefined=undefined, finalize=_finalize_for(policy, default))


@lru_cache(maxsize=1024)
def _compiled(*, html: bool, policy: str, default: str, source: str):
    # Published versions are immutable, so (source, policy) is a safe cache key: each template
    # of a version is compiled once per worker process.
    return _env(html=html, policy=policy, default=default).from_string(source)


# --- Publish-time checks ------------------------------------------------------------------


def content_check(*, channel: str, content: dict) -> list[FieldError]:
    """Syntax errors of each templated part of the channel and its variants, with the part and line."""
    errors = []
    for path, source in template_sources(channel=channel, content=content):
        try:
            # Compiling, not only parsing: an unknown filter or test is an error here too.
            _env(html=path.split(".")[-1] in HTML_PARTS).compile(source)
        except TemplateSyntaxError as exc:
            errors.append(FieldError(path, f"line {exc.lineno}: {exc.message}"))
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
        return f"{locale!r} is not a known locale (e.g. en, en_US, fr_FR)."
    return None


# --- Rendering ----------------------------------------------------------------------------


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
            f"{path}: the template does not compile (line {exc.lineno}): {exc.message}", code="render_failed"
        ) from exc
    except UndefinedError as exc:
        raise ApplicationError(f"{path}: {exc.message}", code="missing_value") from exc
    except TemplateLimitExceeded as exc:
        raise ApplicationError(
            f"{path}: the template went beyond a limit: {exc}", code="render_limit"
        ) from exc
    except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError, RecursionError) as exc:
        # The sandbox refused an operation, or the template misused a value from the event.
        raise ApplicationError(
            f"{path}: the template could not be rendered: {exc}", code="render_failed"
        ) from exc
    finally:
        _budget.reset(token)


_inliner = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)
PREHEADER_HTML = (
    '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all" aria-hidden="true">{}</div>'
)


def _text_from_html(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    return converter.handle(html).strip() + "\n"


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
                f"html: the CSS could not be inlined: {exc}", code="render_failed"
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
            text=text or (_text_from_html(html) if html else ""),
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
