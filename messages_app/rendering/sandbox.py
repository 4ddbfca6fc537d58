"""The bounded Jinja2 sandbox.

Marketers are untrusted template authors and event data is untrusted input:
- the immutable sandbox refuses object internals (dunder attributes, methods that mutate, ...);
- only a short list of string methods may be called, and every value, call, loop and the output
  are bounded in size, count and time, so no template can exhaust the worker;
- the HTML part escapes every value taken from the event (autoescape), and event text is never
  turned into links (no `urlize`): URLs from the event appear only where the marketer put them.

`_env` builds the environment of a part (HTML or text) under a missing-value policy; it
registers the locale-aware filters of `filters`.
"""

import contextvars
import time
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from jinja2 import ChainableUndefined, TemplateSyntaxError, UndefinedError, nodes, pass_eval_context
from jinja2.exceptions import SecurityError
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from .content import MissingValuePolicy
from .filters import LOCALE_FILTERS

# Bounds of one render. Generous for any real message, small enough for a 2-core worker.
MAX_OUTPUT_CHARS = 1_000_000  # one part (the HTML of a long order confirmation is ~100 kB)
MAX_VALUE_CHARS = 200_000  # one printed value, string or list built by the template
MAX_ITERATIONS = 50_000  # loop iterations and calls, summed over the whole render
MAX_RANGE = 1_000  # range() in a template: item lists come from the event, not from range
MAX_RENDER_SECONDS = 2.0
MAX_INT_BITS = 256
MAX_FILTER_INT = 10_000  # a width, count or indent given to a filter (truncate(255), batch(3), ...)


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
    # `-`, `/` and `//` only to mix the event's decimals with numbers written in the template.
    intercepted_binops = frozenset({"*", "**", "+", "%", "-", "/", "//"})

    def __init__(self, **options):
        super().__init__(**options)
        for name in REMOVED_FILTERS:
            self.filters.pop(name, None)
        self.filters = {
            name: _bounded_filter(func) for name, func in {**self.filters, **LOCALE_FILTERS}.items()
        }
        # Jinja's own globals are reach-through points (`cycler.__init__.__globals__`) that no
        # message needs: only range() stays (the README documents it; item lists come from the event).
        for name in ("lipsum", "cycler", "joiner", "namespace", "dict"):
            self.globals.pop(name, None)
        self.globals.update(
            range=_bounded_range, mc_bounded_iter=_bounded_iter, mc_bounded_concat=_bounded_concat
        )

    def _parse(self, source, name, filename):
        tree = _Bound().visit(super()._parse(source, name, filename))
        tree.set_environment(self)
        return tree

    def parse_as_written(self, source: str) -> nodes.Template:
        """The template's tree as its author wrote it, without the bounding rewrite (what the
        publish checks read)."""
        return super()._parse(source, None, None)

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
        # Decimal fields reach templates as Decimal: `ctx.total * 1.2` works as with a number.
        if isinstance(left, Decimal) and isinstance(right, float):
            right = Decimal(repr(right))
        elif isinstance(right, Decimal) and isinstance(left, float):
            left = Decimal(repr(left))
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
