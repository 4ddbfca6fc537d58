import re

from django.conf import settings
from django.urls import re_path

from .api import EventStatusApi, TriggerApi, TriggerBatchApi

_org = re.escape(settings.CAMPAIGN_ORGANIZATION)
_base = rf"^{_org}/campaign/mc{_org}/(?P<event_id>[A-Za-z0-9_]+)"

urlpatterns = [
    re_path(_base + r"/?$", TriggerApi.as_view(), name="event-trigger"),
    # Before the status lookup: a PKey is 24 characters, never "batch".
    re_path(_base + r"/batch/?$", TriggerBatchApi.as_view(), name="event-trigger-batch"),
    re_path(_base + r"/(?P<pkey>[A-Za-z0-9_-]+)/?$", EventStatusApi.as_view(), name="event-status"),
]
