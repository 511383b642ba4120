"""The JSON objects written for one event or participant (``eventsync --format jsonl``).

Pure functions over the common types, with no command-line or ``rich``
dependency, so that anything else returning "what the CLI writes" (a Celery
task, an application's own export) produces the very same object.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import attrs

from ._types import Event, Participant

__all__ = ["event_record", "participant_record", "to_dict"]


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def to_dict(item: Any) -> dict[str, Any]:
    """A JSON-ready dict of a common Event or Participant (``raw`` left out)."""
    data = attrs.asdict(item, recurse=True, filter=lambda a, _: a.name != "raw")
    return {k: _plain(v) for k, v in data.items()}


def participant_record(participant: Participant) -> dict[str, Any]:
    """The JSON object written for one participant (``eventsync participants``)."""
    return to_dict(participant)


def event_record(
    event: Event,
    *,
    details: bool = True,
    complete: bool | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """The JSON object written for one event (one line of ``--format jsonl``).

    ``details``: the event came from ``get_event`` (False: from a listing only,
    so ``distances_m`` and ``participants`` are unknown, written as null).
    ``participants`` is null too when the provider did not show them
    (``Event.participants is None``), ``[]`` when there are none.
    ``complete``: False when the participants may be fewer than there are
    (``participants_complete``); ``error``: why the details could not be fetched.
    """
    data = to_dict(event)
    fetched = details and error is None
    if not fetched:
        data["distances_m"] = None
        data["participants"] = None
    data["participants_complete"] = complete
    data["error"] = error
    return data
