"""The text part generated from an email's HTML reads as plain text in a text-only client."""

import pytest

from messages_app.rendering.plaintext import text_from_html

ORDER_SHIPPED = """<html><head><title>Shipped</title><style>h1 { color: #333 }</style></head>
<body>
<div style="display: none">Your parcel is on its way</div>
<h1>Hello Jane,</h1>
<p>Your order <strong>SO-1001</strong> has shipped.<br>It arrives on <em>Friday</em>.</p>
<p><a href="https://track.example.com/SO-1001">Track your parcel</a></p>
<table>
  <thead><tr><th>Product</th><th>Qty</th><th>Price</th></tr></thead>
  <tbody>
    <tr><td>Leather jacket</td><td>1</td><td>&euro;125.00</td></tr>
    <tr><td>Scarf<td>2<td>&euro;19.90
  </tbody>
</table>
<hr>
<p>Questions? Write to <a href="mailto:care@example.com">care@example.com</a> or see
   <a href="https://example.com/help">our help centre</a>.</p>
<script>alert(1)</script>
</body></html>"""


def test_an_order_email_reads_as_plain_text():
    assert text_from_html(ORDER_SHIPPED) == (
        "Hello Jane,\n"
        "\n"
        "Your order SO-1001 has shipped.\n"
        "It arrives on Friday.\n"
        "\n"
        "Track your parcel: https://track.example.com/SO-1001\n"
        "\n"
        "Product         Qty  Price\n"
        "Leather jacket  1    €125.00\n"
        "Scarf           2    €19.90\n"
        "\n"
        "Questions? Write to care@example.com or see our help centre (https://example.com/help).\n"
    )


@pytest.mark.parametrize(
    "html",
    [
        ORDER_SHIPPED,
        "<h2>Title</h2><p><b>bold</b> and <i>italic</i></p><table><tr><th>a</th><th>b</th></tr>"
        "<tr><td>1</td><td>2</td></tr></table><hr><p><a href='https://x.example/'>x</a></p>",
    ],
)
def test_no_markdown_survives(html):
    text = text_from_html(html)
    for markdown in ("#", "**", "__", "---", "|---", "](", "[", "> "):
        assert markdown not in text, (markdown, text)


def test_lists_are_lines_with_markers():
    html = "<p>Next steps:</p><ol><li>Unpack<li>Enjoy</ol><ul><li>Gift wrap<ul><li>Red</li></ul></li></ul>"
    assert text_from_html(html) == "Next steps:\n\n1. Unpack\n2. Enjoy\n\n- Gift wrap\n  - Red\n"


def test_layout_tables_read_cell_after_cell():
    html = (
        '<table width="600"><tr><td><p>Hello Jane,</p><p>Thanks for your order.</p></td></tr>'
        '<tr><td><a href="https://shop.example/unsubscribe"><img src="u.png" alt="Unsubscribe"></a></td></tr>'
        "</table>"
    )
    assert text_from_html(html) == (
        "Hello Jane,\n\nThanks for your order.\n\nUnsubscribe: https://shop.example/unsubscribe\n"
    )


def test_wide_tables_separate_their_columns():
    long = "A very long product name that would not fit on an aligned line of text"
    html = f"<table><tr><td>{long}</td><td>1</td><td>€5.00</td></tr></table>"
    assert text_from_html(html) == f"{long} | 1 | €5.00\n"


def test_links_without_text_or_to_themselves_are_written_once():
    html = (
        '<p><a href="https://example.com/a">https://example.com/a</a></p>'
        '<p><a href="#top">Back to top</a></p><p><a href="https://example.com/b"></a></p>'
    )
    assert text_from_html(html) == "https://example.com/a\n\nBack to top\n\nhttps://example.com/b\n"


def test_preformatted_text_keeps_its_spaces_and_entities_are_decoded():
    html = "<pre>Code:  SO-1001\n  Total:  €125</pre><p>Fish &amp; chips &lt;3</p>"
    assert text_from_html(html) == "Code:  SO-1001\n  Total:  €125\n\nFish & chips <3\n"


def test_empty_or_hidden_html_gives_no_text():
    assert text_from_html("") == ""
    assert text_from_html('<div style="display:none">x</div><style>p{}</style>') == ""
