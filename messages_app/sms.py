"""SMS length: GSM 03.38 (7-bit) when every character fits, else UCS-2; the same rules as the
admin's live counter (static/messages_app/sms_counter.js)."""

import re
from dataclasses import dataclass

# Template tags are not sent: the fixed text is what can be counted before personalisation.
TEMPLATE_TAG_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Characters of the extension table: each takes two septets (escape + character).
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
# Segments above this count are refused by most operators.
MAX_SEGMENTS_WARNING = 3


@dataclass(frozen=True)
class SmsLength:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    per_segment: int


def sms_length(text: str) -> SmsLength:
    if all(char in GSM7_BASIC or char in GSM7_EXTENDED for char in text):
        units = sum(2 if char in GSM7_EXTENDED else 1 for char in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    if units <= single:
        return SmsLength(encoding, units, 1 if units else 0, single)
    return SmsLength(encoding, units, -(-units // multi), multi)


def sms_fixed_text(source: str) -> str:
    """The SMS template without its tags: the text sent whatever the personalisation."""
    return TEMPLATE_TAG_RE.sub("", source)
