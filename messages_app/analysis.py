"""Static analysis of templates against the published data structure (no trial render).

Every variable a template reads must exist: `ctx.<field>` and `ctx.<collection>` of the event,
the fields of a collection's items inside a loop over it, and the enrichments by name with the
profile fields and declared attributes they hold (`customer.attributes.loyalty_tier`). Errors
name the part and the line.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.utils.translation import gettext
from jinja2 import TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from campaign.exceptions import FieldError
from events.models import EnrichmentResource
from profiles.selectors import ATTRIBUTES_KEY, PROFILE_TEMPLATE_FIELDS

from .rendering import BoundedSandbox

# The templates as written (without the bounding rewrite), knowing the filters of the renderer.
_env = ImmutableSandboxedEnvironment()
_env.filters.update(BoundedSandbox().filters)
_globals = set(BoundedSandbox().globals)


@dataclass
class Shape:
    """What a variable holds: an object with known attributes, a list of items, or anything."""

    label: str = ""
    attributes: dict[str, "Shape"] | None = None  # None: not checked (a value, an enrichment)
    item: "Shape | None" = None  # set for a collection
    examples: list[str] = field(default_factory=list)


ANY = Shape()
# The recipient's unsubscribe link: a variable of profile-based messages only (SPEC MSG-7).
UNSUBSCRIBE_URL = "unsubscribe_url"


def profile_shape(*, name: str, attributes: Iterable[str]) -> Shape:
    """What an enrichment holds: a profile's fields and its declared custom attributes."""
    declared = Shape(
        label=gettext("the declared profile attributes"), attributes=dict.fromkeys(attributes, ANY)
    )
    return Shape(
        label=gettext("a profile ({name})").format(name=name),
        attributes={**dict.fromkeys(PROFILE_TEMPLATE_FIELDS, ANY), ATTRIBUTES_KEY: declared},
    )


def _is_profile(enrichment: dict) -> bool:
    return enrichment.get("resource", EnrichmentResource.PROFILE) == EnrichmentResource.PROFILE


def structure_shapes(*, structure: dict, event_id: str, attributes: Iterable[str] = ()) -> dict[str, Shape]:
    """The top-level variables of a message's templates, from the published data structure;
    `attributes`: the names of the declared profile attributes (what enrichments hold)."""
    attributes = list(attributes)
    collection_ids = {c.get("collection_id") for c in structure.get("collections") or []}
    item_enrichments: dict[str, dict[str, Shape]] = {}
    top: dict[str, Shape] = {}
    for enrichment in structure.get("enrichments") or []:
        name = enrichment.get("name")
        if not name:
            continue
        shape = profile_shape(name=name, attributes=attributes) if _is_profile(enrichment) else ANY
        if enrichment.get("target") in collection_ids:
            item_enrichments.setdefault(enrichment["target"], {})[name] = shape
        else:
            top[name] = shape
    ctx: dict[str, Shape] = {f["field_id"]: ANY for f in structure.get("fields") or []}
    for collection in structure.get("collections") or []:
        cid = collection.get("collection_id")
        item = Shape(
            label=gettext("an item of ctx.{collection}").format(collection=cid),
            attributes={
                **{f["field_id"]: ANY for f in collection.get("fields") or []},
                **item_enrichments.get(cid, {}),
            },
        )
        ctx[cid] = Shape(label=f"ctx.{cid}", item=item)
    top["ctx"] = Shape(label=event_id, attributes=ctx)
    if any(enrichment.get("targeting") for enrichment in structure.get("enrichments") or []):
        top[UNSUBSCRIBE_URL] = ANY
    return top


# Filters that return one item of a list, and filters that return the list (or part of it).
ITEM_FILTERS = frozenset({"first", "last", "random"})
LIST_FILTERS = frozenset({"sort", "reverse", "list", "unique", "selectattr", "rejectattr", "default", "d"})


class _Checker:
    def __init__(self, part: str, shapes: dict[str, Shape]):
        self.part = part
        self.errors: list[FieldError] = []
        self.seen: set[tuple[int, str]] = set()
        self.scopes: list[dict[str, Shape]] = [shapes]

    def error(self, node: nodes.Node, message: str) -> None:
        if (node.lineno, message) not in self.seen:
            self.seen.add((node.lineno, message))
            line = gettext("line {number}: {message}").format(number=node.lineno, message=message)
            self.errors.append(FieldError(self.part, line))

    def lookup(self, name: str) -> Shape:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return ANY

    def member(self, node: nodes.Node, shape: Shape, name: str, path: str) -> Shape:
        if shape.item is not None:
            # `items.length` and the like: attributes of the list itself.
            return ANY
        if shape.attributes is None:
            return ANY
        if name not in shape.attributes:
            self.error(
                node, gettext("{path} is not a field of {shape}.").format(path=path, shape=shape.label)
            )
            return ANY
        return shape.attributes[name]

    def resolve(self, node: nodes.Node) -> tuple[Shape, str]:
        """The shape of an expression and its dotted path, checking every attribute on the way."""
        if isinstance(node, nodes.Name):
            return self.lookup(node.name), node.name
        if isinstance(node, nodes.Getattr):
            shape, path = self.resolve(node.node)
            path = f"{path}.{node.attr}"
            return self.member(node, shape, node.attr, path), path
        if isinstance(node, nodes.Getitem):
            shape, path = self.resolve(node.node)
            if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                path = f"{path}.{node.arg.value}"
                return self.member(node, shape, node.arg.value, path), path
            self.visit(node.arg)
            if shape.item is not None:
                return (shape if isinstance(node.arg, nodes.Slice) else shape.item), path
            return ANY, path
        if isinstance(node, nodes.Filter) and node.node is not None:
            for child in (*node.args, *[kw.value for kw in node.kwargs]):
                self.visit(child)
            shape, path = self.resolve(node.node)
            if shape.item is not None and node.name in ITEM_FILTERS:
                return shape.item, path
            if shape.item is not None and node.name in LIST_FILTERS:
                return shape, path
            return ANY, path
        self.visit(node)
        return ANY, ""

    def bind(self, target: nodes.Node, shape: Shape, scope: dict[str, Shape]) -> None:
        if isinstance(target, nodes.Name):
            scope[target.name] = shape
        elif isinstance(target, nodes.Tuple):
            for item in target.items:
                self.bind(item, ANY, scope)

    def visit(self, node: nodes.Node) -> None:
        is_lookup = isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Name)
        if is_lookup or (isinstance(node, nodes.Filter) and node.node is not None):
            self.resolve(node)
            return
        if isinstance(node, nodes.For):
            shape, _ = self.resolve(node.iter)
            scope: dict[str, Shape] = {}
            self.bind(node.target, shape.item or ANY, scope)
            scope["loop"] = ANY
            self.scopes.append(scope)
            for child in (*node.body, *([node.test] if node.test else [])):
                self.visit(child)
            self.scopes.pop()
            for child in node.else_:
                self.visit(child)
            return
        if isinstance(node, nodes.Assign):
            shape, _ = self.resolve(node.node)
            self.bind(node.target, shape, self.scopes[-1])
            return
        for child in node.iter_child_nodes():
            self.visit(child)


def template_check(*, part: str, source: str, shapes: dict[str, Shape]) -> list[FieldError]:
    """Unknown variables and fields read by one template (its syntax is checked elsewhere)."""
    try:
        tree = _env.parse(source)
    except TemplateSyntaxError:
        return []
    errors = []
    for name in sorted(meta.find_undeclared_variables(tree) - set(shapes) - _globals):
        line = next(node.lineno for node in tree.find_all(nodes.Name) if node.name == name)
        if name == UNSUBSCRIBE_URL:
            errors.append(
                FieldError(
                    part,
                    gettext(
                        "line {line}: unsubscribe_url is only available in profile-based messages: "
                        "an event-based message has no profile to unsubscribe."
                    ).format(line=line),
                )
            )
            continue
        message = gettext("{name} is not defined: use ctx.<field> or an enrichment's name.").format(name=name)
        errors.append(
            FieldError(part, gettext("line {number}: {message}").format(number=line, message=message))
        )
    checker = _Checker(part, shapes)
    checker.visit(tree)
    return errors + checker.errors
