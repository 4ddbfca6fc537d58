"""A bare `celery -A campaign worker` (no -Q: the command every Celery user types first) consumes
every queue and runs the dispatcher; `-Q` still narrows it. Real worker processes on the test broker
(Redis) and database, asked over Celery's control API which queues they consume."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.plugins import ROOT
from tests.plugins.worker import _database_url

ALL_QUEUES = ["transactional", "callbacks", "bulk", "housekeeping", "default"]
DISPATCHER_STARTED = "dispatcher started"


@pytest.fixture
def queues_emptied(redis_broker):
    """Empty queues before and after: a worker consuming them all would run other tests' leftovers."""
    from campaign.celery import app

    def purge():
        with app.connection_for_write() as connection:
            for queue in app.amqp.queues.values():
                queue.bind(connection.default_channel).declare()
                queue.bind(connection.default_channel).purge()

    purge()
    yield
    purge()


class Worker:
    def __init__(self, log_path: Path, arguments: list[str], env: dict[str, str]):
        self.name = f"settings-check-{uuid.uuid4().hex[:8]}@localhost"
        self.log_path = log_path
        self.log = open(log_path, "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "campaign", "worker", "-n", self.name, *arguments],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the pool's children are stopped with it
        )

    def output(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):  # what is left of its group (pool children)
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.log.close()


def wait_until_ready(workers: list[Worker], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for worker in workers:
        while "ready." not in worker.output():
            if worker.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the worker {worker.name} did not start:\n{worker.output()[-3000:]}")
            time.sleep(0.2)


def active_queues(names: list[str], timeout: float = 30) -> dict[str, list[str]]:
    """The names of the queues each worker consumes, in order, as it answers over the broker."""
    from campaign.celery import app

    answers: dict = {}
    deadline = time.monotonic() + timeout
    while set(answers) != set(names) and time.monotonic() < deadline:
        answers |= app.control.inspect(destination=names, timeout=2).active_queues() or {}
    assert set(answers) == set(names), f"no answer from {set(names) - set(answers)}"
    return {name: [queue["name"] for queue in queues] for name, queues in answers.items()}


@pytest.mark.e2e
def test_a_bare_worker_consumes_every_queue_and_runs_the_dispatcher(
    redis_broker, queues_emptied, django_db_setup, django_db_blocker, tmp_path
):
    from django.db import connection

    with django_db_blocker.unblock():
        database_url = _database_url(connection.settings_dict)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "campaign.settings.test",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": redis_broker,
    }
    common = ["--concurrency", "1", "--without-mingle", "--without-gossip", "--loglevel", "INFO"]
    bare = narrowed = None
    try:
        bare = Worker(tmp_path / "bare.log", common, env)
        narrowed = Worker(tmp_path / "bulk.log", ["-Q", "bulk", *common], env)
        wait_until_ready([bare, narrowed])
        queues = active_queues([bare.name, narrowed.name])
        assert queues[bare.name] == ALL_QUEUES
        assert queues[narrowed.name] == ["bulk"]
        deadline = time.monotonic() + 10
        while DISPATCHER_STARTED not in bare.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert DISPATCHER_STARTED in bare.output(), bare.output()[-3000:]
        assert DISPATCHER_STARTED not in narrowed.output()
    finally:
        for worker in (bare, narrowed):
            if worker is not None:
                worker.stop()
