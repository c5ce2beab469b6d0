"""The embedded broker (apps/core/filebroker.py): every message taken once, in order, whole.

The transport is driven through kombu's own client API (Producer, SimpleQueue) from real
processes, as web, beat and a worker drive it; one test bursts a real Celery worker.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path
from queue import Empty

import pytest
from kombu import Connection, Exchange, Queue

from apps.config.celery import app as celery_app
from apps.core.filebroker import TEMP_PREFIX, Transport, message_name
from tests.workers import wait_until

ROOT = Path(__file__).resolve().parents[2]


def options(folder: Path) -> dict[str, str]:
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "claim_folder": str(folder / "claimed"),
        "corrupt_folder": str(folder / "corrupt"),
        "polling_interval": 0.01,
    }


def connect(folder: Path) -> Connection:
    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return Connection("filesystem://", transport=Transport, transport_options=options(folder))


def publish(folder: str, queue: str, first: int, count: int) -> None:
    with connect(Path(folder)) as conn:
        simple = conn.SimpleQueue(queue)
        for number in range(first, first + count):
            simple.put({"n": number})
        simple.close()


def consume(folder: str, queue: str, producers_done, out) -> None:
    """Take messages until the producers are done and the queue is empty."""
    taken = []
    with connect(Path(folder)) as conn:
        simple = conn.SimpleQueue(queue)
        while True:
            try:
                message = simple.get(block=False)
            except Empty:
                if producers_done.is_set():
                    try:  # one more look: a last message may have landed meanwhile
                        message = simple.get(block=False)
                    except Empty:
                        break
                else:
                    time.sleep(0.005)
                    continue
            taken.append(message.payload["n"])
            message.ack()
        simple.close()
    out.put(taken)


def test_concurrent_producers_and_consumers_take_every_message_exactly_once(tmp_path):
    context = multiprocessing.get_context("spawn")
    producers_done = context.Event()
    out = context.Queue()
    producers = [
        context.Process(target=publish, args=(str(tmp_path), "jobs", p * 250, 250))
        for p in range(4)
    ]
    consumers = [
        context.Process(target=consume, args=(str(tmp_path), "jobs", producers_done, out))
        for _ in range(3)
    ]
    for proc in consumers + producers:
        proc.start()
    for proc in producers:
        proc.join(timeout=120)
        assert proc.exitcode == 0
    producers_done.set()
    taken = [out.get(timeout=120) for _ in consumers]
    for proc in consumers:
        proc.join(timeout=30)
        assert proc.exitcode == 0

    every = sorted(n for part in taken for n in part)
    assert every == list(range(1000))  # none lost, none taken twice
    assert os.listdir(tmp_path / "queue") == []
    assert os.listdir(tmp_path / "claimed") == []


def test_messages_are_taken_in_the_order_they_were_published(tmp_path):
    publish(str(tmp_path), "jobs", 0, 30)
    with connect(tmp_path) as conn:
        simple = conn.SimpleQueue("jobs")
        messages = [simple.get(block=False) for _ in range(30)]
        assert [m.payload["n"] for m in messages] == list(range(30))
        for message in messages:
            message.ack()
        with pytest.raises(Empty):
            simple.get(block=False)


def test_a_backlog_is_listed_once_not_once_per_message(tmp_path, monkeypatch):
    publish(str(tmp_path), "jobs", 0, 50)
    listings = []
    real_listdir = os.listdir
    monkeypatch.setattr(
        "apps.core.filebroker.os.listdir", lambda path: listings.append(path) or real_listdir(path)
    )
    with connect(tmp_path) as conn:
        simple = conn.SimpleQueue("jobs")
        listings.clear()  # declaring the queue counted its messages
        taken = []
        for _ in range(50):
            message = simple.get(block=False)
            taken.append(message.payload["n"])
            message.ack()
        assert len(listings) == 1
        publish(str(tmp_path), "jobs", 50, 1)  # after the listing: found by a new one
        listings.clear()
        message = simple.get(block=False)
        taken.append(message.payload["n"])
        message.ack()
        assert len(listings) == 1
        simple.close()
    assert taken == list(range(51))


def test_a_half_written_message_is_never_read(tmp_path):
    with connect(tmp_path) as conn:
        simple = conn.SimpleQueue("jobs")
        queue = tmp_path / "queue"
        # A publisher caught mid-write: its bytes are under the temporary name only.
        name = message_name("jobs")
        simple.put({"n": 1})
        [published] = os.listdir(queue)
        content = (queue / published).read_bytes()
        os.unlink(queue / published)
        (queue / f"{TEMP_PREFIX}{name}").write_bytes(content[: len(content) // 2])

        with pytest.raises(Empty):
            simple.get(block=False)
        assert simple.qsize() == 0
        assert os.listdir(queue) == [f"{TEMP_PREFIX}{name}"]  # untouched

        # The publisher finishes: the whole message appears at once, and is read.
        (queue / f"{TEMP_PREFIX}{name}").write_bytes(content)
        os.replace(queue / f"{TEMP_PREFIX}{name}", queue / name)
        message = simple.get(block=False)
        assert message.payload == {"n": 1}
        message.ack()
        simple.close()


def test_a_corrupt_message_is_set_aside_and_consumption_goes_on(tmp_path, caplog):
    with connect(tmp_path) as conn:
        simple = conn.SimpleQueue("jobs")
        queue = tmp_path / "queue"
        # Older than anything published next, so it is the first one a consumer takes.
        (queue / "00000000000000000001_bad.jobs.msg").write_bytes(b'{"body": "trunc')
        (queue / "00000000000000000002_empty.jobs.msg").write_bytes(b"")
        simple.put({"n": 7})
        with caplog.at_level(logging.ERROR, logger="apps.core.filebroker"):
            message = simple.get(block=False)
        assert message.payload == {"n": 7}
        message.ack()
        simple.close()

    assert sorted(os.listdir(tmp_path / "corrupt")) == [
        "00000000000000000001_bad.jobs.msg",
        "00000000000000000002_empty.jobs.msg",
    ]
    assert os.listdir(queue) == []
    assert [r.message.split(" could not")[0] for r in caplog.records] == [
        "broker message 00000000000000000001_bad.jobs.msg",
        "broker message 00000000000000000002_empty.jobs.msg",
    ]


def test_size_and_purge_count_only_whole_messages_of_their_queue(tmp_path):
    with connect(tmp_path) as conn:
        jobs, other = conn.SimpleQueue("jobs"), conn.SimpleQueue("jobs.other")
        for n in range(3):
            jobs.put({"n": n})
        other.put({"n": 9})
        (tmp_path / "queue" / f"{TEMP_PREFIX}{message_name('jobs')}").write_bytes(b"{")
        assert jobs.qsize() == 3
        assert other.qsize() == 1
        assert jobs.clear() == 3
        message = other.get(block=False)
        assert message.payload == {"n": 9}
        message.ack()
        jobs.close()
        other.close()


def test_fanout_reaches_every_bound_queue(tmp_path):
    """Celery's remote control (broadcast) rides on fanout exchanges."""
    exchange = Exchange("everyone", type="fanout")
    with connect(tmp_path) as conn:
        first = Queue("first", exchange)(conn)
        second = Queue("second", exchange)(conn)
        first.declare()
        second.declare()
        conn.Producer().publish({"n": 1}, exchange=exchange, declare=[exchange])
        assert first.get(no_ack=True).payload == {"n": 1}
        assert second.get(no_ack=True).payload == {"n": 1}
        assert first.get(no_ack=True) is None


# -- a real worker under a burst ---------------------------------------------------------------

PRODUCER = """
import sys
import django
django.setup()
from apps.core.broker import task_send
folder, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for number in range(first, first + count):
    assert task_send("tests.record", [folder, number])
"""


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_with_four_slots_takes_a_burst_from_four_producers_once_each(
    workers, settings, tmp_path
):
    if settings.REDIS_URL:
        pytest.skip("the embedded broker serves only without REDIS_URL")
    seen = tmp_path / "seen"
    seen.mkdir()
    worker = workers.start(concurrency=4, include="tests.probe_tasks")
    queue = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    # A message that does not decode, among the first the worker takes.
    (queue / "00000000000000000001_bad.celery.msg").write_bytes(b'{"body": ')
    producers = [
        subprocess.Popen(
            [sys.executable, "-c", PRODUCER, str(seen), str(p * 100), "100"],
            cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "apps.config.settings"},
        )
        for p in range(4)
    ]
    for proc in producers:
        assert proc.wait(timeout=120) == 0

    wait_until(lambda: len(os.listdir(seen)) >= 400 or worker.poll() is not None)
    assert worker.poll() is None, "the worker exited"
    names = os.listdir(seen)
    assert sorted(int(n) for n in names) == list(range(400))  # no dup- files either
    log = workers.logs[0].read_text(errors="replace")
    assert "00000000000000000001_bad.celery.msg could not be read and was set aside" in log
    assert "Unrecoverable error" not in log
    # Remote control (a broadcast on a fanout exchange, replies on a direct one) still works.
    replies = celery_app.control.ping(timeout=5)
    assert len(replies) == 1, replies
