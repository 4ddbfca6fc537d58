"""The text part of an email generated from its HTML: plain text, as a person reads it in a
text-only client (not Markdown: no `#`, `**`, `[text](url)` or `---|---`).

Paragraphs and headings become paragraphs, `<br>` a line break, list items lines starting with
`- ` (or `1. `), a data table one line per row with its columns aligned, a layout table (cells
holding paragraphs or tables) its cells' content in order. A link is written `text: url` when
it stands alone (a button) and `text (url)` inside a sentence; images, styles, scripts and
hidden elements (`display: none`, e.g. a preheader) are left out.

html2text writes Markdown and the well-kept plain-text converters drop the links' addresses,
hence this small converter on the standard library's parser.
"""

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = frozenset(
    "area base br col embed hr img input link meta param source track wbr".split()  # noqa: SIM905
)
SKIPPED = frozenset({"head", "script", "style", "title", "template", "noscript"})
BLOCK = frozenset(
    """address article aside blockquote center dd div dl dt fieldset figcaption figure footer form
    h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section table tbody td tfoot th thead tr ul
    body html""".split()  # noqa: SIM905
)
# An opening tag that closes the open element of these names first (HTML's implied end tags).
IMPLIED_END = {
    "p": {"p"},
    "li": {"li", "p"},
    "tr": {"tr", "td", "th", "p"},
    "td": {"td", "th", "p"},
    "th": {"td", "th", "p"},
    "dt": {"dt", "dd", "p"},
    "dd": {"dt", "dd", "p"},
}
_HIDDEN = re.compile(r"display\s*:\s*none", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
# A hard line break inside a paragraph (<br>), kept through whitespace folding.
_BREAK = "\x00"
# Widest aligned table; wider ones separate their columns with " | " instead.
ALIGNED_TABLE_WIDTH = 78


@dataclass
class _Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list = field(default_factory=list)  # _Node or str


class _TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = _Node("root")
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        for implied in IMPLIED_END.get(tag, ()):
            # Only within the innermost table or list: a <td> never closes the outer table's cell.
            for index in range(len(self.stack) - 1, 0, -1):
                name = self.stack[index].tag
                if name == implied:
                    del self.stack[index:]
                    break
                if name in ("table", "ul", "ol", "dl"):
                    break
        node = _Node(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack[-1].tag == tag:
            self.stack.pop()

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


@dataclass
class _Link:
    text: str
    href: str

    def inline(self) -> str:
        return f"{self.text} ({self.href})" if self.href else self.text

    def alone(self) -> str:
        return f"{self.text}: {self.href}" if self.href else self.text


def _visible(node: _Node) -> bool:
    return node.tag not in SKIPPED and not _HIDDEN.search(node.attrs.get("style", ""))


def _fold(pieces: list) -> str:
    """One paragraph's inline pieces as text: whitespace folded, <br> kept as line breaks."""
    meaningful = [p for p in pieces if not (isinstance(p, str) and not p.strip())]
    if len(meaningful) == 1 and isinstance(meaningful[0], _Link):
        return meaningful[0].alone()
    text = "".join(p.inline() if isinstance(p, _Link) else p for p in pieces)
    lines = (_SPACES.sub(" ", line).strip() for line in text.split(_BREAK))
    return "\n".join(lines).strip("\n")


def _text_of(node: _Node) -> str:
    """Everything a node says, on one line (a link's text)."""
    parts = []
    for child in node.children:
        if isinstance(child, str):
            parts.append(child)
        elif _visible(child):
            parts.append(" " + _text_of(child) + " ")
    return _SPACES.sub(" ", "".join(parts)).strip()


def _link(node: _Node) -> _Link:
    href = node.attrs.get("href", "").strip()
    text = _text_of(node)
    if not text:
        image = next((c for c in node.children if isinstance(c, _Node) and c.tag == "img"), None)
        text = image.attrs.get("alt", "").strip() if image is not None else ""
    if href.lower().startswith(("javascript:", "#")) or not href:
        return _Link(text, "")
    address = href[len("mailto:") :] if href.lower().startswith("mailto:") else href
    if not text or text in (href, address):
        return _Link(address, "")
    return _Link(text, address)


def _blocks(node: _Node) -> list[str]:
    """The node's content as blocks (paragraphs, lists, tables), in order."""
    blocks: list[str] = []
    pieces: list = []

    def flush():
        text = _fold(pieces)
        if text:
            blocks.append(text)
        pieces.clear()

    for child in node.children:
        if isinstance(child, str):
            pieces.append(child)
            continue
        if not _visible(child):
            continue
        tag = child.tag
        if tag == "br":
            pieces.append(_BREAK)
        elif tag == "a":
            pieces.append(_link(child))
        elif tag == "img":
            continue
        elif tag == "pre":
            flush()
            text = "".join(_raw_text(child)).strip("\n")
            if text.strip():
                blocks.append(text.rstrip())
        elif tag in ("ul", "ol"):
            flush()
            blocks.extend(_list(child))
        elif tag == "table":
            flush()
            blocks.extend(_table(child))
        elif tag in BLOCK:
            flush()
            blocks.extend(_blocks(child))
        else:
            # An inline element (strong, em, span, font, ...): its content joins the paragraph.
            inner = _Node("span", children=child.children)
            nested = _inline_pieces(inner)
            if nested is None:
                flush()
                blocks.extend(_blocks(inner))
            else:
                pieces.extend(nested)
    flush()
    return blocks


def _inline_pieces(node: _Node) -> list | None:
    """The pieces of an inline element, or None when it holds blocks (a <span> around a <div>)."""
    pieces: list = []
    for child in node.children:
        if isinstance(child, str):
            pieces.append(child)
        elif not _visible(child) or child.tag == "img":
            continue
        elif child.tag == "br":
            pieces.append(_BREAK)
        elif child.tag == "a":
            pieces.append(_link(child))
        elif child.tag in BLOCK:
            return None
        else:
            nested = _inline_pieces(child)
            if nested is None:
                return None
            pieces.extend(nested)
    return pieces


def _raw_text(node: _Node):
    for child in node.children:
        if isinstance(child, str):
            yield child
        elif child.tag == "br":
            yield "\n"
        elif _visible(child):
            yield from _raw_text(child)


def _list(node: _Node) -> list[str]:
    lines = []
    number = 0
    for child in node.children:
        if not isinstance(child, _Node) or child.tag != "li" or not _visible(child):
            continue
        number += 1
        marker = f"{number}. " if node.tag == "ol" else "- "
        content = "\n".join(_blocks(child)) or ""
        indented = content.replace("\n", "\n" + " " * len(marker))
        lines.append(marker + indented)
    return ["\n".join(lines)] if lines else []


def _rows(node: _Node):
    for child in node.children:
        if not isinstance(child, _Node) or not _visible(child):
            continue
        if child.tag == "tr":
            yield child
        elif child.tag in ("thead", "tbody", "tfoot"):
            yield from _rows(child)


def _table(node: _Node) -> list[str]:
    rows = []
    for row in _rows(node):
        cells = [
            _blocks(cell)
            for cell in row.children
            if isinstance(cell, _Node) and cell.tag in ("td", "th") and _visible(cell)
        ]
        rows.append(cells)
    if any(len(blocks) > 1 or "\n" in "".join(blocks) for cells in rows for blocks in cells):
        # A layout table: its cells hold paragraphs (or tables) that read one after the other.
        return [block for cells in rows for blocks in cells for block in blocks]
    lines = [[blocks[0] if blocks else "" for blocks in cells] for cells in rows]
    lines = [cells for cells in lines if any(cells)]
    if not lines:
        return []
    columns = max(len(cells) for cells in lines)
    widths = [max(len(cells[i]) if i < len(cells) else 0 for cells in lines) for i in range(columns)]
    if sum(widths) + 2 * (columns - 1) <= ALIGNED_TABLE_WIDTH:
        padded = ("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)) for cells in lines)
        text = "\n".join(line.rstrip() for line in padded)
    else:
        text = "\n".join(" | ".join(c for c in cells if c) for cells in lines)
    return [text]


def text_from_html(html: str) -> str:
    """The plain-text part of an email whose HTML is `html` (ends with one newline)."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    text = "\n\n".join(_blocks(builder.root)).strip()
    return text + "\n" if text else ""
