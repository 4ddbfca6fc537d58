"""A profile CSV import uploaded in the admin is checked and applied by a real Celery worker of the
housekeeping queue (and by no worker of the other queues)."""

import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from campaign.celery import app
from profiles.models import ImportStatus, Profile, ProfileImport
from tests.plugins import ROOT
from tests.plugins.worker import _database_url

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def housekeeping_worker(tmp_path):
    with app.connection_for_write() as broker:
        broker.default_channel.queue_declare("housekeeping", durable=True, auto_delete=False)
        broker.default_channel.queue_purge("housekeeping")
    log_path = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "campaign.settings.test",
        "DATABASE_URL": _database_url(connection.settings_dict),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "campaign",
                "worker",
                "-Q",
                "housekeeping",
                "--concurrency",
                "1",
                "--without-mingle",
                "--without-gossip",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while "ready." not in log_path.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"the worker did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _until(status: str, job_id: int) -> ProfileImport:
    """The import once it reached `status` (bounded wait; fails with where it stands)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = ProfileImport.objects.get(pk=job_id)
        if job.status == status:
            return job
        time.sleep(0.2)
    pytest.fail(f"the import is {job.status}, not {status}: {job.error}")


def test_the_worker_checks_then_imports_the_uploaded_file(housekeeping_worker, client, administrator):
    rows = "".join(f"w{n}@example.com,W{n}\n" for n in range(2500))
    upload = ("email,first_name\n" + rows).encode()
    client.force_login(administrator)
    response = client.post(
        "/admin/profiles/profile/import/",
        {"file": SimpleUploadedFile("workers.csv", upload, content_type="text/csv"), "key": "email"},
    )
    job = ProfileImport.objects.get(file_name="workers.csv")
    assert response.status_code == 302
    job = _until(ImportStatus.CHECKED, job.pk)
    assert (job.rows_new, job.rows_invalid) == (2500, 0)
    assert not Profile.objects.exists()

    client.post(f"/admin/profiles/profile/import/{job.pk}/confirm/")
    job = _until(ImportStatus.DONE, job.pk)
    assert job.rows_applied == 2500
    assert Profile.objects.count() == 2500
    progress = client.get(f"/admin/profiles/profile/import/{job.pk}/progress/").json()
    assert (progress["status"], progress["running"], progress["percent"]) == ("done", False, 100)
