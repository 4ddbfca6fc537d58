"""Retries and recovery through the real worker process, broker and SMTP server."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from delivery.models import AttemptOutcome, DeliveryAttempt
from delivery.services import events_sweep
from events.models import Event, EventStatus
from tests.conftest import make_published_event, trigger_path

from .test_delivery import FINAL, http, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CART = {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Jacket"}


def test_smtp_4xx_then_success_is_retried_by_the_worker(live_server, celery_worker, smtp_server, credentials):
    smtp_server.messages.clear()
    smtp_server.defer["busy@example.com"] = 2
    try:
        make_published_event()
        url = live_server.url + trigger_path("EVTcartAbandonment")
        status, body = http("POST", url, credentials, {"email": "busy@example.com", "ctx": CART})
        assert status == 202
        final = wait_for_status(f"{url}/{body['PKey']}", credentials, FINAL)
    finally:
        smtp_server.defer.clear()
    assert final["status"] == "processed"
    [mail] = smtp_server.wait_for(1)
    assert mail.envelope_recipients == ["busy@example.com"]
    outcomes = list(
        DeliveryAttempt.objects.filter(event__pkey=body["PKey"])
        .order_by("number")
        .values_list("outcome", flat=True)
    )
    print("attempts:", outcomes)
    assert outcomes == [AttemptOutcome.TEMPORARY_FAILURE] * 2 + [AttemptOutcome.SENT]


def test_the_sweeper_recovers_lost_enqueues_and_killed_workers(
    live_server, celery_worker, smtp_server, settings
):
    smtp_server.messages.clear()
    settings.DELIVERY_LEASE_SECONDS = 60
    config = make_published_event()
    old = timezone.now() - timedelta(minutes=5)
    # Dispatched but lost with the broker (restarted empty), and claimed by a worker that died.
    lost = [
        Event.objects.create(
            pkey=f"lost-{status}",
            configuration=config,
            configuration_version=config.published_version,
            email=f"{status}@example.com",
            ctx=CART,
            status=status,
            dispatched_at=old,
        )
        for status in (EventStatus.PENDING, EventStatus.PROCESSING)
    ]
    Event.objects.filter(pk__in=[e.pk for e in lost]).update(updated_at=old)

    assert events_sweep() == 2

    received = smtp_server.wait_for(2)
    assert sorted(m.envelope_recipients[0] for m in received) == [
        "pending@example.com",
        "processing@example.com",
    ]
    # The worker commits the status just after the SMTP server's answer.
    deadline = time.monotonic() + 10
    while Event.objects.filter(pk__in=[e.pk for e in lost], status=EventStatus.PROCESSED).count() < 2:
        assert time.monotonic() < deadline, list(Event.objects.values_list("pkey", "status"))
        time.sleep(0.05)
