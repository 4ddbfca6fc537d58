"""Open and click tracking of HTML emails (REP-1); the rule for machines is in docs/tracking.md.

The recipient tracked is an event (transactional messages) or a marketing delivery's recipient:
the same links, tokens, rows and machine rules; only what the rows are keyed by differs.

At send time the links of the content (a published version's HTML, or a marketing delivery's:
its `<a href>` to http(s) or to a template) are numbered once per content and stored as
`TrackedLink` rows; each rendered email then gets a signed click URL per link and a signed open
pixel. A click only ever redirects to a link of the content it was sent with: the stored URL for a
literal link, or the URL rendered for this recipient when it matches the link's template (its
literal parts, in order). Tokens are signed with the project's secret key (django.core.signing):
an altered token is refused.

Each open, and each click on one link, is stored once per recipient, counting repeats, with its
time, user agent and client network (never the full address). Provider webhooks (anymail's
`opened` and `clicked`) feed the same rows.
"""

import hashlib
import html
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from events.models import Event, Targeting
from fastpath.versions import per_version
from messages_app.rendering import RenderedEmail
from messages_app.selectors import version_content
from profiles.models import Profile

from .models import Interaction, InteractionKind, InteractionSource, TrackedLink
from .targeting import TargetingFailed, event_target_profile

SALT = "delivery.tracking"

# An anchor of the template source, with its href; [^>] keeps the match inside the tag.
_ANCHOR_RE = re.compile(r"<a\b([^>]*?)\bhref\s*=\s*([\"'])(.*?)\2", re.IGNORECASE | re.DOTALL)
# The same anchor after rendering, carrying the number given to its link in the source.
_MARKED_RE = re.compile(r"<a data-mc-link=\"(\d+)\"([^>]*?)\bhref\s*=\s*([\"'])(.*?)\3", re.DOTALL)
_TEMPLATE_TAG_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_PIXEL = (
    '<img src="{src}" width="1" height="1" alt="" '
    'style="display:block;border:0;width:1px;height:1px;overflow:hidden">'
)
# A transparent 1x1 GIF.
PIXEL_GIF = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)


def _web_url(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def _trackable(href: str) -> bool:
    href = html.unescape(href).strip()
    # The unsubscribe link goes straight to its page: it is consent, not engagement, and a click
    # through a redirect would hide the recipient's own link from the mail client and scanners.
    if re.match(r"\{\{-?\s*unsubscribe_url\b", href):
        return False
    return _web_url(href) or href.startswith("{{")


def _templated(url: str) -> bool:
    return bool(_TEMPLATE_TAG_RE.search(url))


def link_matches(*, template: str, url: str) -> bool:
    """Whether `url` can be what the link's `template` rendered: its literal parts in order,
    anything in place of its tags. A literal link matches itself only."""
    if not _web_url(url):
        return False
    parts = _TEMPLATE_TAG_RE.split(template)
    return re.fullmatch(".*?".join(re.escape(part) for part in parts), url, re.DOTALL) is not None


@dataclass(frozen=True)
class TrackedContent:
    """A version's content with its links numbered, and each number's stored link."""

    content: dict
    # position -> (TrackedLink id, whether its URL is a template)
    links: dict[int, tuple[int, bool]]


def _mark(source: str, found: list[str]) -> str:
    def number(match: re.Match) -> str:
        if not _trackable(match.group(3)):
            return match.group(0)
        found.append(html.unescape(match.group(3)).strip())
        quote = match.group(2)
        return f'<a data-mc-link="{len(found) - 1}"{match.group(1)}href={quote}{match.group(3)}{quote}'

    return _ANCHOR_RE.sub(number, source)


def links_label(*, source: str, labels: dict[int, str]) -> str:
    """`source` (a version's default HTML) with `labels[position]` shown before each tracked link,
    numbered as `tracked_content` numbers them: the hot clicks drawn on the message itself."""
    found: list[str] = []

    def label(match: re.Match) -> str:
        if not _trackable(match.group(3)):
            return match.group(0)
        found.append(match.group(3))
        text = labels.get(len(found) - 1)
        return (_BADGE.format(html.escape(text)) if text else "") + match.group(0)

    return _ANCHOR_RE.sub(label, source)


_BADGE = (
    '<span style="background:#fff3a0;color:#000;border:1px solid #000;font:bold 12px sans-serif;'
    'padding:0 4px;margin-right:3px;white-space:nowrap">{}</span>'
)


def _links_store(*, owner: dict, urls: list[str]) -> dict[int, int]:
    """position -> TrackedLink id of the links of one content (`owner`: its version, or its
    marketing delivery), stored once; a link is known by its position and URL."""

    def stored() -> dict[int, int]:
        rows = TrackedLink.objects.filter(**owner).values_list("position", "url", "pk")
        return {position: pk for position, url, pk in rows if position < len(urls) and urls[position] == url}

    found = stored()
    missing = [
        TrackedLink(**owner, position=position, url=url)
        for position, url in enumerate(urls)
        if position not in found
    ]
    if missing:
        TrackedLink.objects.bulk_create(missing, ignore_conflicts=True)
        found = stored()
    return found


@per_version(maxsize=256)
def tracked_content(*, version_pk: int, published_at: datetime) -> TrackedContent:
    """The version's content with its trackable links numbered (default content first, then the
    variants by language), and their TrackedLink rows, created on first use; once per process."""
    return _content_track(
        content=version_content(version_pk=version_pk, published_at=published_at),
        owner={"version_id": version_pk},
    )


def marketing_tracked_content(*, delivery_pk: int, content: dict) -> TrackedContent:
    """A marketing delivery's content with its links numbered and stored, as a version's."""
    return _content_track(content=content, owner={"marketing_delivery_id": delivery_pk})


def _content_track(*, content: dict, owner: dict) -> TrackedContent:
    urls: list[str] = []
    marked = {**content, "html": _mark(content.get("html") or "", urls)}
    variants = {}
    for language in sorted(content.get("variants") or {}):
        variant = dict(content["variants"][language])
        if variant.get("html"):
            variant["html"] = _mark(variant["html"], urls)
        variants[language] = variant
    marked["variants"] = variants
    ids = _links_store(owner=owner, urls=urls)
    return TrackedContent(
        content=marked,
        links={position: (ids[position], _templated(url)) for position, url in enumerate(urls)},
    )


def _absolute(path: str) -> str:
    return settings.CAMPAIGN_TRACKING_URL.rstrip("/") + path


@dataclass(frozen=True)
class Tracked:
    """Whom an email's pixel and redirects are signed for: an event, or a marketing delivery's
    recipient. A marketing recipient's tokens also sign what its interactions are recorded with
    (delivery sits below marketing and reads none of its rows): its delivery, which alone owns the
    links it may be redirected to, its profile, its address's domain and when it was sent."""

    event_pk: int | None = None
    recipient_pk: int | None = None
    delivery_pk: int | None = None
    profile_id: int | None = None
    domain: str = ""
    sent_at: datetime | None = None

    def key(self) -> int | list:
        if self.event_pk is not None:
            return self.event_pk
        sent = int(self.sent_at.timestamp()) if self.sent_at is not None else None
        return ["m", self.recipient_pk, self.delivery_pk, self.profile_id, self.domain, sent]

    @classmethod
    def from_key(cls, key) -> "Tracked":
        if not isinstance(key, list):
            return cls(event_pk=int(key))
        _, recipient_pk, delivery_pk, profile_id, domain, sent = key
        return cls(
            recipient_pk=int(recipient_pk),
            delivery_pk=int(delivery_pk),
            profile_id=int(profile_id) if profile_id is not None else None,
            domain=str(domain),
            sent_at=datetime.fromtimestamp(sent, tz=UTC) if sent is not None else None,
        )


def marketing_tracked(*, recipient_pk: int, delivery_pk: int, profile_id: int | None, email: str) -> Tracked:
    """A marketing recipient being sent its email now."""
    return Tracked(
        recipient_pk=recipient_pk,
        delivery_pk=delivery_pk,
        profile_id=profile_id,
        domain=_domain(email),
        sent_at=timezone.now(),
    )


def open_token(*, whom: Tracked) -> str:
    signer = signing.Signer(salt=SALT)
    if whom.event_pk is not None:
        return signer.sign(str(whom.event_pk))
    return signer.sign_object(whom.key(), compress=True)


def click_token(*, whom: Tracked, link_pk: int, url: str | None) -> str:
    return signing.dumps([whom.key(), link_pk] + ([url] if url is not None else []), salt=SALT, compress=True)


def email_tracking_add(*, rendered: RenderedEmail, whom: Tracked, tracked: TrackedContent) -> RenderedEmail:
    """The rendered email with its numbered links going through signed click redirects and an
    open pixel at the end of its body."""
    if not rendered.html:
        return rendered

    def redirect(match: re.Match) -> str:
        quote, written = match.group(3), match.group(4)
        link = tracked.links.get(int(match.group(1)))
        url = html.unescape(written).strip()
        if link is None or not _web_url(url):
            return f"<a{match.group(2)}href={quote}{written}{quote}"
        link_pk, templated = link
        token = click_token(whom=whom, link_pk=link_pk, url=url if templated else None)
        target = html.escape(_absolute(reverse("tracking-click", args=[token])))
        return f"<a{match.group(2)}href={quote}{target}{quote}"

    body = _MARKED_RE.sub(redirect, rendered.html)
    pixel = _PIXEL.format(src=html.escape(_absolute(reverse("tracking-open", args=[open_token(whom=whom)]))))
    closing = body.lower().rfind("</body>")
    body = body[:closing] + pixel + body[closing:] if closing >= 0 else body + pixel
    return replace(rendered, html=body)


def email_markers_strip(*, rendered: RenderedEmail) -> RenderedEmail:
    """The rendered email of a message that does not track: the numbers of its links removed."""
    return replace(rendered, html=re.sub(r'<a data-mc-link="\d+"', "<a", rendered.html))


# --- Machines (docs/tracking.md) ------------------------------------------------------------

# Apple's network, whose Mail Privacy Protection proxies fetch every image of a message on
# delivery, whether or not it is read; they also send a bare "Mozilla/5.0" user agent.
PRIVACY_PROXY_NETWORKS = (ipaddress.ip_network("17.0.0.0/8"),)
PRIVACY_PROXY_AGENTS = frozenset({"Mozilla/5.0"})
# Link scanners, security gateways and prefetchers that name themselves.
MACHINE_AGENT_RE = re.compile(
    r"bot\b|crawler|spider|prefetch|scanner|python-requests|python-urllib|curl/|wget|go-http-client|"
    r"java/|okhttp|headless|barracuda|mimecast|proofpoint|safelinks|symantec|trendmicro|forcepoint|"
    r"messagelabs|fireeye|paloalto|zscaler",
    re.IGNORECASE,
)


def machine_reason(*, kind: str, user_agent: str, ip: str, sent_at: datetime | None, at: datetime) -> str:
    """Why a single hit looks like a machine ('' for a human); the scanner rule, which looks at
    several clicks, is applied by `interaction_record`."""
    try:
        address = ipaddress.ip_address(ip) if ip else None
    except ValueError:
        address = None
    if kind == InteractionKind.OPEN and (
        user_agent.strip() in PRIVACY_PROXY_AGENTS
        or (address is not None and any(address in network for network in PRIVACY_PROXY_NETWORKS))
    ):
        return "privacy_proxy"
    if MACHINE_AGENT_RE.search(user_agent):
        return "known_agent"
    if sent_at is not None and timedelta(0) <= at - sent_at < timedelta(
        seconds=settings.TRACKING_MIN_HUMAN_SECONDS
    ):
        return "too_fast"
    return ""


def ip_network(ip: str) -> str:
    """The client's network: /24 for IPv4, /48 for IPv6."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _domain(email: str) -> str:
    return email.rpartition("@")[2].strip().lower()[:255] if "@" in email else ""


def _url_key(url: str) -> int:
    # A provider click on a link we do not know: one row per URL, keyed by a stable hash.
    return -int.from_bytes(hashlib.blake2b(url.encode(), digest_size=7).digest(), "big") - 1


def _hit(*, key: dict, kind: str, link_key: int, defaults: dict, reason: str, at) -> Interaction:
    row, created = Interaction.objects.select_for_update().get_or_create(
        **key, kind=kind, link_key=link_key, defaults={**defaults, "machine_reason": reason}
    )
    if not created:
        Interaction.objects.filter(pk=row.pk).update(
            count=F("count") + 1,
            last_at=max(at, row.last_at),
            machine_reason=row.machine_reason if reason else "",
            rolled=False,
        )
    return row


def _event_profile_id(event_pk: int) -> Callable[[], int | None]:
    """The profile a profile-based event targets, found as the worker found it (its targeting
    enrichment), when first asked; None when it is gone (erased, or no longer matching)."""
    found: list[int | None] = []

    def profile_id() -> int | None:
        if not found:
            event = Event.objects.select_related("configuration", "configuration_version").get(pk=event_pk)
            try:
                found.append(event_target_profile(event=event).pk)
            except TargetingFailed:
                found.append(None)
        return found[0]

    return profile_id


def _recipient(whom: Tracked) -> tuple[dict, dict, datetime | None] | None:
    """(the key of the recipient's rows, what a new row holds of it, when it was sent); None when
    its event is gone (retention)."""
    if whom.event_pk is None:
        key = {"marketing_recipient_id": whom.recipient_pk}
        known = {
            "marketing_delivery_id": whom.delivery_pk,
            # The token names the profile; an erased one is gone, and its hits name none.
            "profile_id": whom.profile_id
            if whom.profile_id and Profile.objects.filter(pk=whom.profile_id).exists()
            else None,
            "domain": whom.domain,
        }
        return key, known, whom.sent_at
    event = (
        Event.objects.filter(pk=whom.event_pk)
        .values("configuration_id", "email", "processed_at", "configuration__targeting")
        .first()
    )
    if event is None:
        return None
    known = {
        "configuration_id": event["configuration_id"],
        # Found once, and only when a row is created (a callable default).
        "profile_id": _event_profile_id(whom.event_pk)
        if event["configuration__targeting"] == Targeting.PROFILE
        else None,
        "domain": _domain(event["email"]),
    }
    return {"event_id": whom.event_pk}, known, event["processed_at"]


def interaction_record(
    *,
    whom: Tracked,
    kind: str,
    link: TrackedLink | None = None,
    url: str = "",
    user_agent: str = "",
    ip: str = "",
    at: datetime | None = None,
    source: str = InteractionSource.TRACKING,
) -> Interaction | None:
    """Store one open or click of a recipient (an event, or a marketing recipient): a new row for the first, a
    count for the repeats. A click counts in the row of its link and in the recipient's row of all
    its clicks (`link_key` 0, which gives the unique clickers). A row is a machine's only while all
    its hits were; two links of one recipient clicked within TRACKING_SCANNER_SECONDS are a
    scanner's. None when the event is gone (retention)."""
    at = at or timezone.now()
    recipient = _recipient(whom)
    if recipient is None:
        return None
    key, known, sent_at = recipient
    reason = machine_reason(kind=kind, user_agent=user_agent, ip=ip, sent_at=sent_at, at=at)
    defaults = {
        **known,
        "source": source,
        "first_at": at,
        "last_at": at,
        "user_agent": user_agent[:500],
        "ip_network": ip_network(ip),
    }
    hit = {"key": key, "kind": kind, "reason": reason, "at": at}
    with transaction.atomic():
        if kind == InteractionKind.OPEN:
            row = _hit(link_key=0, defaults=defaults, **hit)
        else:
            link_key = link.pk if link is not None else _url_key(url)
            url = (link.url if link is not None and not url else url)[:4000]
            row = _hit(link_key=link_key, defaults={**defaults, "link": link, "url": url}, **hit)
            _hit(link_key=0, defaults=defaults, **hit)
            if source == InteractionSource.TRACKING:
                window = timedelta(seconds=settings.TRACKING_SCANNER_SECONDS)
                burst = Interaction.objects.filter(
                    **key,
                    kind=InteractionKind.CLICK,
                    first_at__gte=at - window,
                    first_at__lte=at + window,
                )
                if burst.exclude(link_key=0).values("link_key").distinct().count() > 1:
                    burst.exclude(machine_reason="scanner").update(machine_reason="scanner", rolled=False)
    row.refresh_from_db()
    return row


def click_target(*, token: str) -> tuple[Tracked, TrackedLink, str] | None:
    """(whom the click is for, link, the URL to redirect to) of a click token; None when the token
    was altered or names a link that the content it was sent with never held (another message's,
    another delivery's), or a URL its link cannot render."""
    try:
        data = signing.loads(token, salt=SALT)
        key, link_pk, *rendered = data
        whom, link_pk = Tracked.from_key(key), int(link_pk)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    link = TrackedLink.objects.select_related("version__message").filter(pk=link_pk).first()
    if link is None:
        return None
    if whom.event_pk is None:
        if link.marketing_delivery_id != whom.delivery_pk:
            return None
    else:
        configuration_id = (
            Event.objects.filter(pk=whom.event_pk).values_list("configuration_id", flat=True).first()
        )
        if link.version is None or (
            configuration_id is not None and link.version.message.configuration_id != configuration_id
        ):
            return None
    if not rendered:
        return (whom, link, link.url) if _web_url(link.url) else None
    url = str(rendered[0])
    return (whom, link, url) if link_matches(template=link.url, url=url) else None


def open_recipient(*, token: str) -> Tracked | None:
    signer = signing.Signer(salt=SALT)
    try:
        value = signer.unsign(token)
        if value.isdigit():
            return Tracked(event_pk=int(value))
        return Tracked.from_key(signer.unsign_object(token))
    except (signing.BadSignature, ValueError, TypeError):
        return None


def provider_interaction(*, event_pk: int, kind: str, url: str, user_agent: str, at: datetime | None) -> None:
    """An ESP's `opened` or `clicked` webhook, as the same rows as our own tracking: a click on a
    URL one of the message's versions holds counts for that link."""
    link = None
    if kind == InteractionKind.CLICK and url:
        configuration_id = (
            Event.objects.filter(pk=event_pk).values_list("configuration_id", flat=True).first()
        )
        link = (
            TrackedLink.objects.filter(version__message__configuration_id=configuration_id, url=url)
            .order_by("-pk")
            .first()
        )
    interaction_record(
        whom=Tracked(event_pk=event_pk),
        kind=kind,
        link=link,
        url=url,
        user_agent=user_agent,
        at=at,
        source=InteractionSource.PROVIDER,
    )
