"""The embedded Celery broker: kombu's filesystem transport with atomic publish and claim.

Used when REDIS_URL is unset (apps/config/settings.py names it by dotted path). kombu's own
filesystem transport creates a message file under its final name and only then writes it,
and its consumers read without a lock: a consumer that lists the folder in between takes an
empty or half-written file, and the JSONDecodeError it raises stops the worker
("Unrecoverable error"). Its claim moves the file to the system's temporary folder, which
on another filesystem is a copy and a delete, so two consumers can both take one message.

Here:

- publishing writes the message under a hidden temporary name (consumers skip names that
  start with a dot) and renames it into place with os.replace: a consumer sees a message
  whole or not at all;
- claiming renames the file out of the queue folder into the claim folder on the same
  filesystem: rename is atomic, so exactly one consumer wins and the others move on to the
  next file;
- a claimed file that does not decode (truncated by a crash or a full disk, or not ours) is
  logged and moved to the `corrupt` folder for an operator to look at; consumption goes on;
- file names start with the publishing time in nanoseconds, zero-padded, so the sorted
  folder is the order of publishing (kombu's millisecond monotonic stamps sort wrongly once
  their digit count changes, and restart after a reboot).

Fanout (Celery's remote-control broadcast) keeps kombu's implementation: its exchange table
is written under a lock, and each bound queue's copy goes through the atomic `_put` here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections import deque
from functools import cached_property
from pathlib import Path
from queue import Empty
from typing import Any, ClassVar

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)

SUFFIX = ".msg"
TEMP_PREFIX = ".publishing-"


def message_name(queue: str) -> str:
    """A new message's file name: `<ns since epoch, 20 digits>_<uuid>.<queue>.msg`.

    The part after the first dot is the queue, as in kombu's own names (queue names may
    contain dots; the stamp and uuid never do).
    """
    return f"{time.time_ns():020d}_{uuid.uuid4().hex}.{queue}{SUFFIX}"


def queue_of(name: str) -> str | None:
    """The queue a file in the queue folder belongs to, or None for anything else
    (temporary files of publishers, stray files)."""
    if name.startswith(".") or not name.endswith(SUFFIX):
        return None
    _stamp, dot, rest = name.partition(".")
    return rest[: -len(SUFFIX)] if dot else None


class Channel(filesystem.Channel):
    """One channel of the embedded broker. See the module docstring for the guarantees."""

    @cached_property
    def claim_folder(self) -> Path:
        """Where a consumer moves a message it takes: beside the queue folder, so that the
        move is a rename on one filesystem."""
        folder = Path(
            self.transport_options.get("claim_folder")
            or Path(self.data_folder_in).parent / "claimed"
        )
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @cached_property
    def corrupt_folder(self) -> Path:
        folder = Path(
            self.transport_options.get("corrupt_folder")
            or Path(self.data_folder_in).parent / "corrupt"
        )
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    @cached_property
    def fsync(self) -> bool:
        # Off by default: a message lost to a power cut is re-sent by the sweepers (every
        # message names a row that says what to do); on, each publish costs a disk flush.
        return bool(self.transport_options.get("fsync", False))

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        """Publish `payload` on `queue`: written under a temporary name, then renamed."""
        folder = self.data_folder_out
        name = message_name(queue)
        temp = os.path.join(folder, f"{TEMP_PREFIX}{name}")
        try:
            with open(temp, "wb") as out:
                out.write(dumps(payload).encode())
                if self.fsync:
                    out.flush()
                    os.fsync(out.fileno())
            os.replace(temp, os.path.join(folder, name))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise ChannelError(f"cannot publish a message to {folder!r}: {exc}") from exc

    def _queue_files(self, queue: str) -> list[str]:
        return sorted(name for name in os.listdir(self.data_folder_in) if queue_of(name) == queue)

    @cached_property
    def _listed(self) -> dict[str, deque[str]]:
        # Per queue, the names of the last listing not yet tried, oldest first. Listing and
        # sorting the folder for every message made a backlog of n messages cost n^2.
        return {}

    def _get(self, queue: str) -> Any:
        """Take the oldest message of `queue` that no other consumer takes first."""
        listed = self._listed.get(queue)
        if not listed:
            listed = self._listed[queue] = deque(self._queue_files(queue))
        while listed:
            name = listed.popleft()
            claimed = self.claim_folder / f"{name}.{os.getpid()}"
            try:
                os.rename(os.path.join(self.data_folder_in, name), claimed)
            except FileNotFoundError:
                if not listed:  # the listing is used up: what arrived since it was made
                    listed.extend(self._queue_files(queue))
                continue  # another consumer took it (or a purge removed it): the next one
            try:
                raw = claimed.read_bytes()
                payload = loads(raw.decode())
                if not isinstance(payload, dict):
                    raise ValueError(f"a message is a JSON object, not {type(payload).__name__}")
            except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeError included
                self._set_aside(claimed, name, exc)
                continue
            self._done(claimed, name)
            return payload
        raise Empty()

    def _set_aside(self, claimed: Path, name: str, error: Exception) -> None:
        target = self.corrupt_folder / name
        try:
            os.replace(claimed, target)
        except OSError:
            target = claimed
        logger.error(
            "broker message %s could not be read and was set aside as %s "
            "(the worker goes on; the sweepers re-send the work it named): %s",
            name,
            target,
            error,
        )

    def _done(self, claimed: Path, name: str) -> None:
        try:
            if self.store_processed:
                os.replace(claimed, os.path.join(self.processed_folder, name))
            else:
                os.unlink(claimed)
        except OSError as exc:
            logger.warning("broker message %s was taken but not cleared away: %s", name, exc)

    def _purge(self, queue: str) -> int:
        count = 0
        for name in self._queue_files(queue):
            try:
                os.unlink(os.path.join(self.data_folder_in, name))
            except FileNotFoundError:
                continue  # taken by a consumer meanwhile
            count += 1
        return count

    def _size(self, queue: str) -> int:
        return len(self._queue_files(queue))


class Transport(filesystem.Transport):
    """The embedded broker's transport (CELERY_BROKER_TRANSPORT names it)."""

    Channel = Channel
    # kombu keeps one process-wide record of the bindings it has declared and then skips
    # writing them to the control folder: a second folder in the same process (a test's, or
    # one emptied meanwhile) got no binding, and its messages were routed nowhere. One
    # record per control folder instead.
    _states: ClassVar[dict[str, filesystem.virtual.BrokerState]] = {}

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        folder = str(client.transport_options.get("control_folder", "control"))
        self.state = self._states.setdefault(folder, filesystem.virtual.BrokerState())
