"""Rendering throughput of a cart-abandonment email (loop over items, locale filters, CSS inlining),
with templates compiled once and cached (the worker's case) against compiling for every event.

    .venv/bin/python bench/render.py --renders 2000

No database or broker is needed.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CONTENT = {
    "sender_name": "Demo Shop",
    "sender_email": "shop@example.com",
    "subject": "{{ ctx.firstName }}, your cart is waiting",
    "preheader": "{{ ctx['items']|length }} items kept for you",
    "html": "<html><head><style>li { color: #333 } .price { font-weight: bold }</style></head><body>"
    "<p>Hello {{ ctx.firstName }},</p><ul>{% for item in ctx['items'][:10] %}"
    "<li>{% if loop.first %}<strong>{{ item.name }}</strong>{% else %}{{ item.name }}{% endif %} "
    "<span class='price'>{{ item.price|format_currency('EUR') }}</span></li>"
    "{% else %}<li>Your cart is empty.</li>{% endfor %}</ul>"
    "<p>Total: {{ ctx.total|format_currency('EUR') }} on {{ ctx.date|format_date('long') }}</p>"
    "</body></html>",
    "text": "",
    "locale": "fr_FR",
    "missing_value_policy": "empty",
}
CONTEXT = {
    "ctx": {
        "firstName": "Jane",
        "total": "259.70",
        "date": "2026-12-24",
        "items": [{"name": f"Product {n}", "price": f"{10 + n}.90"} for n in range(8)],
    }
}


def measure(count: int, *, cached: bool) -> float:
    from messages_app import rendering

    started = time.perf_counter()
    for _ in range(count):
        if not cached:
            rendering._compiled.cache_clear()
        rendering.message_render(channel="email", content=CONTENT, context=CONTEXT)
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--renders", type=int, default=2000, help="renders per measure (bounded)")
    count = max(10, min(parser.parse_args().renders, 100_000))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campaign.settings.test")
    import django

    django.setup()
    measure(10, cached=True)  # warm-up: imports, locale data
    cold = measure(max(10, count // 10), cached=False)
    warm = measure(count, cached=True)
    print(f"compiled for every event : {cold:8.0f} emails/s")
    print(f"compiled once, cached    : {warm:8.0f} emails/s")
    print(f"ratio cached / uncached  : {warm / cold:8.1f}x")


if __name__ == "__main__":
    main()
