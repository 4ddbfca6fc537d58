"""Publish-time checks of a version's content: the syntax of its templates (compiled, so an
unknown filter or test is an error too), what they reach for beyond the data (`reach_check`), and
its locale codes. The check of the variables a template reads against the event's data structure
is `messages_app.analysis`.

The sandbox (`sandbox`) is the last wall, not the only one: a template that probes the engine
(object internals, `attr`, Jinja's own globals, include/import/extends/macro, string formatting,
constant size bombs) can never render anything useful, so publish refuses it with its part and
line instead of letting every event of it fail at render.
"""

from babel import Locale, UnknownLocaleError
from django.utils.translation import gettext
from jinja2 import TemplateSyntaxError, nodes
from jinja2.defaults import DEFAULT_NAMESPACE

from campaign.exceptions import FieldError

from .content import CHANNEL_PARTS, HTML_PARTS, VARIANT_PARTS
from .sandbox import (
    MAX_FILTER_INT,
    MAX_INT_BITS,
    MAX_ITERATIONS,
    MAX_RANGE,
    MAX_VALUE_CHARS,
    _env,
)

# The globals a template may name besides `ctx` and the enrichments: the README documents them.
DOCUMENTED_GLOBALS = frozenset({"range"})
# Names Jinja resolves on its own that reach into the template object or the macro machinery.
SPECIAL_NAMES = frozenset({"self", "caller", "varargs", "kwargs", "lipsum"})
# Filters that read an attribute named by a string argument (`map(attribute='x')`, ...), and
# those whose first positional argument is that name.
ATTRIBUTE_FILTERS = frozenset(
    {
        "map",
        "select",
        "reject",
        "selectattr",
        "rejectattr",
        "sort",
        "groupby",
        "unique",
        "min",
        "max",
        "sum",
        "join",
    }
)
ATTRIBUTE_FIRST_ARG = frozenset({"selectattr", "rejectattr", "groupby"})
# Filters and tests applied by name through map/select/reject.
BY_NAME = frozenset({"map", "select", "reject", "selectattr", "rejectattr"})
STRING_FORMAT_METHODS = frozenset({"format", "format_map"})
REFUSED_TAGS = {
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "import",
    nodes.Extends: "extends",
    nodes.Macro: "macro",
    nodes.CallBlock: "call",
}


class _Bomb(Exception):
    """A constant expression that goes beyond a bound of the sandbox."""


class _Unknown(Exception):
    """An expression whose value is not known before the render."""


def _value(node: nodes.Node) -> object:
    """The value of a constant expression, computed only within the sandbox's bounds (a value
    beyond them raises _Bomb; one that depends on data, or that fails, raises _Unknown)."""
    try:
        return _fold(node)
    except (ArithmeticError, TypeError, ValueError, RecursionError):
        raise _Unknown from None


def _fold(node: nodes.Node) -> object:
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, nodes.List | nodes.Tuple):
        return [_value(item) for item in node.items]
    if isinstance(node, nodes.Neg):
        value = _value(node.node)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return -value
        raise _Unknown
    if isinstance(node, nodes.Concat):
        total = "".join(str(_value(item)) for item in node.nodes)
        if len(total) > MAX_VALUE_CHARS:
            raise _Bomb(gettext("a value longer than %(limit)s characters") % {"limit": MAX_VALUE_CHARS})
        return total
    if isinstance(node, nodes.Add | nodes.Mul | nodes.Pow):
        left, right = _value(node.left), _value(node.right)
        return _binop(type(node), left, right)
    raise _Unknown


def _size(value: object) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return len(value) + sum(_size(item) for item in value)
    return 1


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _binop(operator: type, left: object, right: object) -> object:
    too_long = _Bomb(gettext("a value longer than %(limit)s characters") % {"limit": MAX_VALUE_CHARS})
    too_large = _Bomb(gettext("a number too large"))
    if operator is nodes.Pow:
        if not _is_int(left) or not _is_int(right):
            raise _Unknown
        if abs(right) > 64 or left.bit_length() * max(right, 1) > MAX_INT_BITS:
            raise too_large
        return left**right
    if operator is nodes.Mul:
        for sequence, times in ((left, right), (right, left)):
            if isinstance(sequence, str | list) and _is_int(times):
                if _size(sequence) * times > MAX_VALUE_CHARS:
                    raise too_long
                return sequence * times
        if _is_int(left) and _is_int(right):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise too_large
            return left * right
        raise _Unknown
    if (isinstance(left, str) and isinstance(right, str)) or (
        isinstance(left, list) and isinstance(right, list)
    ):
        if _size(left) + _size(right) > MAX_VALUE_CHARS:
            raise too_long
        return left + right
    if _is_int(left) and _is_int(right):
        return left + right
    raise _Unknown


class _ReachCheck:
    """Walks one template as written (before the sandbox's bounding rewrite)."""

    def __init__(self, part: str, forbidden: frozenset[str], bound: set[str]):
        self.part = part
        self.forbidden = forbidden
        self.bound = bound
        self.found: dict[tuple[int, str], None] = {}
        self.iterations = [1]  # the iterations of the enclosing constant loops

    def error(self, node: nodes.Node, message: str) -> None:
        self.found[(node.lineno, message)] = None

    @property
    def errors(self) -> list[FieldError]:
        # In the order of the lines; on one line, in the order found.
        return [
            FieldError(self.part, f"line {line}: {message}")
            for line, message in sorted(self.found, key=lambda key: key[0])
        ]

    def bomb(self, node: nodes.Node) -> bool:
        """Refuse a constant expression beyond a bound; True when refused."""
        try:
            _value(node)
        except _Bomb as exc:
            self.error(
                node, gettext("this expression builds %(what)s: a message cannot hold it.") % {"what": exc}
            )
            return True
        except _Unknown:
            pass
        return False

    def constant_range(self, node: nodes.Node) -> int | None:
        """How many numbers a `range()` with constant bounds yields; None if not constant."""
        if not (
            isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name == "range"
        ):
            return None
        if node.kwargs or node.dyn_args or node.dyn_kwargs or not 1 <= len(node.args) <= 3:
            return None
        try:
            args = [_value(arg) for arg in node.args]
        except (_Bomb, _Unknown):
            return None
        if not all(_is_int(arg) for arg in args):
            return None
        try:
            return len(range(*args))
        except ValueError:
            return None

    def underscore(self, node: nodes.Node, name: object) -> None:
        if isinstance(name, str) and any(segment.startswith("_") for segment in name.split(".")):
            self.error(
                node,
                gettext(
                    "%(name)r starts with '_': templates read the data they are given, not object internals."
                )
                % {"name": name},
            )

    def visit(self, node: nodes.Node) -> None:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None or method(node) is not False:
            for child in node.iter_child_nodes():
                self.visit(child)

    # Each visit_X returns False when it visited the children itself.

    def visit_Getattr(self, node: nodes.Getattr) -> None:
        self.underscore(node, node.attr)

    def visit_NSRef(self, node: nodes.NSRef) -> None:
        # `{% set ns.total = ... %}` writes into a namespace(), which is not available.
        self.error(node, gettext("namespace is not available: {%% set %%} a variable instead.") % {})

    def visit_Getitem(self, node: nodes.Getitem) -> None:
        if isinstance(node.arg, nodes.Const):
            self.underscore(node, node.arg.value)

    def visit_Name(self, node: nodes.Name) -> None:
        if node.ctx == "load" and node.name in self.forbidden and node.name not in self.bound:
            self.error(
                node,
                gettext(
                    "%(name)s is not available in messages: "
                    "use ctx.<field>, an enrichment or a documented helper."
                )
                % {"name": node.name},
            )

    def _filter(self, node: nodes.Filter | nodes.Test) -> None:
        if node.name == "attr":
            self.error(node, gettext("attr is not available: read fields as ctx.<field>."))
            return
        first = node.args[0] if node.args else None
        if node.name in BY_NAME and isinstance(first, nodes.Const) and first.value == "attr":
            self.error(node, gettext("attr is not available: read fields as ctx.<field>."))
        if node.name in ATTRIBUTE_FILTERS:
            named = [kw.value for kw in node.kwargs if kw.key == "attribute"]
            if node.name in ATTRIBUTE_FIRST_ARG and node.args:
                named.append(node.args[0])
            for value in named:
                if isinstance(value, nodes.Const):
                    self.underscore(node, value.value)
        if isinstance(node, nodes.Test):
            return  # the sandbox bounds the arguments of filters only
        for argument in (*node.args, *(kw.value for kw in node.kwargs)):
            try:
                value = _value(argument)
            except (_Bomb, _Unknown):
                continue
            if _is_int(value) and abs(value) > MAX_FILTER_INT:
                self.error(
                    node,
                    gettext("%(name)s: an argument over %(limit)s.")
                    % {"name": node.name, "limit": MAX_FILTER_INT},
                )

    def visit_Filter(self, node: nodes.Filter) -> None:
        self._filter(node)

    def visit_Test(self, node: nodes.Test) -> None:
        self._filter(node)

    def visit_Mod(self, node: nodes.Mod) -> bool:
        try:
            left = _value(node.left)
        except (_Bomb, _Unknown):
            left = None
        if isinstance(left, str):
            self.error(
                node, gettext("%%-formatting of text is not available: use the format_* filters.") % {}
            )
        return True

    def _arithmetic(self, node: nodes.BinExpr) -> bool:
        # A refused constant expression is reported once, not again for each of its parts.
        return not self.bomb(node)

    visit_Mul = visit_Pow = visit_Add = _arithmetic

    def visit_Concat(self, node: nodes.Concat) -> bool:
        return not self.bomb(node)

    def visit_Call(self, node: nodes.Call) -> None:
        # `.format(...)` pads to any width; `ctx.format` alone is a field named format.
        if isinstance(node.node, nodes.Getattr) and node.node.attr in STRING_FORMAT_METHODS:
            message = gettext("str.%(name)s is not available: use the format_* filters.")
            self.error(node, message % {"name": node.node.attr})
        count = self.constant_range(node)
        if count is not None and count > MAX_RANGE:
            self.error(node, gettext("range() is limited to %(limit)s numbers.") % {"limit": MAX_RANGE})

    def visit_For(self, node: nodes.For) -> bool:
        self.visit(node.target)
        self.visit(node.iter)
        count = self.constant_range(node.iter)
        times = self.iterations[-1] * (count if count is not None and count <= MAX_RANGE else 1)
        if count is not None and times > MAX_ITERATIONS >= self.iterations[-1]:
            self.error(
                node,
                gettext("these loops would run %(times)s times; a message is limited to %(limit)s.")
                % {"times": times, "limit": MAX_ITERATIONS},
            )
        self.iterations.append(times)
        for child in (*node.body, *([node.test] if node.test else [])):
            self.visit(child)
        self.iterations.pop()
        for child in node.else_:
            self.visit(child)
        return False

    def visit_Template(self, node: nodes.Template) -> None:
        for tag_node in node.find_all(tuple(REFUSED_TAGS)):
            self.error(
                tag_node,
                gettext("{%% %(tag)s %%} is not available: a message is one template.")
                % {"tag": REFUSED_TAGS[type(tag_node)]},
            )


def reach_check(*, part: str, source: str) -> list[FieldError]:
    """What a template that compiles reaches for beyond the data it is given, with the part and
    line: attributes or items starting with `_`, `attr`, undocumented globals (Jinja's `cycler`,
    `joiner`, `namespace`, `dict`, `self`, ...), include/import/extends/macro/call, string
    formatting, and constant expressions beyond the sandbox's bounds (`'x' * 10**9`, `range(10**6)`,
    nested loops over constant ranges)."""
    env = _env(html=part.split(".")[-1] in HTML_PARTS)
    try:
        tree = env.parse_as_written(source)
    except TemplateSyntaxError:
        return []  # reported by the syntax check
    bound = {node.name for node in tree.find_all(nodes.Name) if node.ctx in ("store", "param")}
    forbidden = frozenset((set(env.globals) | set(DEFAULT_NAMESPACE) | SPECIAL_NAMES) - DOCUMENTED_GLOBALS)
    checker = _ReachCheck(part, forbidden, bound)
    checker.visit(tree)
    return checker.errors


def content_check(*, channel: str, content: dict) -> list[FieldError]:
    """Syntax errors of each templated part of the channel and its variants, then what the
    templates reach for beyond the data (`reach_check`), with the part and line."""
    errors = []
    for path, source in template_sources(channel=channel, content=content):
        try:
            # Compiling, not only parsing: an unknown filter or test is an error here too.
            _env(html=path.split(".")[-1] in HTML_PARTS).compile(source)
        except TemplateSyntaxError as exc:
            message = gettext("line {number}: {message}").format(number=exc.lineno, message=exc.message)
            errors.append(FieldError(path, message))
            continue
        errors.extend(reach_check(part=path, source=source))
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
