"""The signed unsubscribe link of one recipient (SPEC MSG-7).

The link names a profile and, when the message belongs to one, a subscription service; it is
signed with the installation's secret key (SECRET_KEY, then SECRET_KEY_FALLBACKS after a
rotation) and never expires: a recipient may unsubscribe from an email of years ago. Nothing
else is in it, so a link copied from an email cannot act on anyone but its recipient.
"""

from dataclasses import dataclass
from urllib.parse import quote

from django.conf import settings
from django.core import signing

_SALT = "profiles.unsubscribe"
# The link of proofs and previews: it shows a sample page and changes nothing.
PROOF_TOKEN = "proof"  # noqa: S105 - a page name, not a secret
ONE_CLICK_BODY = "List-Unsubscribe=One-Click"


@dataclass(frozen=True)
class UnsubscribeTarget:
    profile_id: int
    service_id: int | None


def unsubscribe_token(*, profile_id: int, service_id: int | None) -> str:
    return signing.Signer(salt=_SALT).sign_object({"p": profile_id, "s": service_id}, compress=False)


def unsubscribe_target(*, token: str) -> UnsubscribeTarget | None:
    """Whom the token unsubscribes; None when it is not one of ours (altered, made up)."""
    try:
        data = signing.Signer(salt=_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("p"), int):
        return None
    service_id = data.get("s")
    if not isinstance(service_id, int):
        service_id = None
    return UnsubscribeTarget(profile_id=data["p"], service_id=service_id)


def unsubscribe_url_for_token(token: str) -> str:
    return f"{settings.CAMPAIGN_PUBLIC_URL}/unsubscribe/{quote(token, safe=':')}/"


def unsubscribe_url(*, profile_id: int, service_id: int | None) -> str:
    """The recipient's link: the landing page on GET, the one-click unsubscribe on POST."""
    return unsubscribe_url_for_token(unsubscribe_token(profile_id=profile_id, service_id=service_id))


def proof_unsubscribe_url() -> str:
    return unsubscribe_url_for_token(PROOF_TOKEN)


def list_unsubscribe_headers(*, url: str) -> dict[str, str]:
    """The RFC 8058 headers of a profile-based email: its link (and the operator's mailto when
    configured) in List-Unsubscribe, and List-Unsubscribe-Post so that a mail client's
    unsubscribe button POSTs to the link without opening a page."""
    entries = [f"<{url}>"]
    if settings.CAMPAIGN_UNSUBSCRIBE_MAILTO:
        subject = quote(f"unsubscribe {url}")
        entries.append(f"<mailto:{settings.CAMPAIGN_UNSUBSCRIBE_MAILTO}?subject={subject}>")
    return {"List-Unsubscribe": ", ".join(entries), "List-Unsubscribe-Post": ONE_CLICK_BODY}
