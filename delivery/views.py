"""The open pixel and the click redirect of tracked emails (delivery/tracking.py)."""

import logging

from django.http import HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .models import InteractionKind
from .tracking import PIXEL_GIF, click_target, interaction_record, open_recipient

logger = logging.getLogger(__name__)


def _client(request) -> tuple[str, str]:
    return request.META.get("HTTP_USER_AGENT", ""), request.META.get("REMOTE_ADDR", "")


@never_cache
@require_safe
def tracking_open(request, token: str):
    whom = open_recipient(token=token)
    if whom is None:
        return HttpResponseBadRequest(_("This tracking link is not valid."), content_type="text/plain")
    user_agent, ip = _client(request)
    try:
        interaction_record(whom=whom, kind=InteractionKind.OPEN, user_agent=user_agent, ip=ip)
    except Exception:
        # The image is shown whatever happens to the statistics.
        logger.exception("recording the open of %s failed", whom)
    return HttpResponse(PIXEL_GIF, content_type="image/gif")


@never_cache
@require_safe
def tracking_click(request, token: str):
    target = click_target(token=token)
    if target is None:
        return HttpResponseBadRequest(_("This link is not valid."), content_type="text/plain")
    whom, link, url = target
    user_agent, ip = _client(request)
    try:
        interaction_record(
            whom=whom, kind=InteractionKind.CLICK, link=link, url=url, user_agent=user_agent, ip=ip
        )
    except Exception:
        # The recipient reaches the link whatever happens to the statistics.
        logger.exception("recording a click of %s failed", whom)
    return HttpResponseRedirect(url)
