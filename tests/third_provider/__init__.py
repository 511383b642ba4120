"""ClubHub: a third provider built outside ``common``, as a separately installed package would be.

Everything a provider needs, on :mod:`common.provider`'s building blocks: its model
and decoder, a client on :class:`~common.provider.BaseClient` (a paginated listing,
one event, its own error-body shape), a :class:`common.EventSource` adapter, a fake
server on :class:`common.testing.FakeServer`, and the
:class:`~common.provider.ProviderPlugin` that plugs it in. The tests register it by
an entry point (a ``.dist-info`` directory on the path, what ``pip install`` writes)
and by hand (:meth:`~common.provider.Registry.add`).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import attrs
from aiohttp import web

import common
from common import provider
from common.testing import ApiError, FakeServer, json_response

if TYPE_CHECKING:
    from typing_extensions import Unpack

DEFAULT_BASE_URL = "https://api.clubhub.invalid"
TOKEN = "club-token"
PAGE_SIZE = 2


NAME = "clubhub"
"""The provider's name: what its events carry as ``Event.provider``, its plug-in's name."""


# -- models -----------------------------------------------------------------------------


@attrs.frozen
class ClubEvent:
    id: int
    title: str
    day: dt.date
    members: list[str] | None = None


@attrs.frozen
class EventPage:
    events: list[ClubEvent]
    next_page: int | None = attrs.field(default=None, metadata={"json": "nextPage"})


DECODER = provider.Decoder(provider.make_converter())


def parse_error(body: bytes) -> provider.ErrorDetails:
    """ClubHub's error shape: ``{"problem": {"text": ...}}``, on the generic parser."""
    details = provider.parse_error_body(body)
    problem = details.data.get("problem") if isinstance(details.data, dict) else None
    text = provider.error_text(problem.get("text")) if isinstance(problem, dict) else None
    return attrs.evolve(details, message=text or details.message)


# -- client -----------------------------------------------------------------------------


class ClubHubClient(provider.BaseClient):
    """The whole client: credentials from ``$CLUBHUB_TOKEN``, two operations."""

    def __init__(
        self,
        *,
        token: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        **options: Unpack[common.ClientOptions],
    ) -> None:
        token = token or os.environ.get("CLUBHUB_TOKEN")
        if not token:
            raise common.MissingCredentialsError("pass token= or set CLUBHUB_TOKEN")
        super().__init__(
            base_url=base_url,
            auth=provider.BearerAuth(token),
            decoder=DECODER,
            provider=NAME,
            parse_error=parse_error,
            **options,
        )

    def iter_events(self) -> AsyncIterator[ClubEvent]:
        """Every event, page after page, each once (the core's paginator)."""

        async def fetch(page: int) -> provider.Chunk[ClubEvent, int]:
            got = await self._call("GET", "/events", EventPage, params={"page": str(page)})
            return provider.Chunk(got.events, got.next_page)

        return provider.paginate(
            fetch, 1, key=lambda e: e.id, where=lambda page: page, what="GET /events"
        )

    async def get_event(self, event_id: int) -> ClubEvent:
        path = provider.build_path("/events/{id}", id=event_id)
        return await self._call("GET", path, ClubEvent, root="event")


# -- source -----------------------------------------------------------------------------


def to_event(event: ClubEvent) -> common.Event:
    people = tuple(
        common.Participant(
            provider=NAME,
            id=name,
            event_id=str(event.id),
            name=name,
            email=None,
            status=common.ParticipantStatus.GOING,
            raw_status="member",
        )
        for name in event.members or ()
    )
    return common.Event(
        provider=NAME,
        id=str(event.id),
        name=event.title,
        start_date=event.day,
        participants=people,
        raw=event,
    )


class ClubHubSource:
    """ClubHub as a :class:`common.EventSource`."""

    provider = NAME

    def __init__(self, client: ClubHubClient) -> None:
        self.client = client

    async def iter_events(
        self, *, date_from: dt.date | None = None, date_to: dt.date | None = None
    ) -> AsyncIterator[common.Event]:
        async for event in self.client.iter_events():
            if (date_from is None or event.day >= date_from) and (
                date_to is None or event.day <= date_to
            ):
                yield to_event(event)

    async def get_event(self, event_id: str) -> common.Event:
        return to_event(await self.client.get_event(int(event_id)))

    async def list_participants(self, event_id: str) -> list[common.Participant]:
        return list((await self.get_event(event_id)).participants or ())


# -- fake server ------------------------------------------------------------------------


class FakeClubHub(FakeServer):
    """Five club events, two a page; event 3's members are private (``null``)."""

    def __init__(self) -> None:
        super().__init__()
        self.events = {
            n: {
                "id": n,
                "title": f"Club night #{n}",
                "day": f"2026-06-0{n}",
                "members": None if n == 3 else [f"member {m}" for m in range(n)],
            }
            for n in range(1, 6)
        }
        self.app.router.add_get("/events", self._list)
        self.app.router.add_get("/events/{id}", self._get)

    def error_body(self, status: int, code: str, message: str) -> Any:
        return {"problem": {"text": message}}

    def authenticate(self, request: web.Request, operation: str | None) -> None:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            raise ApiError(401, "bad token")

    async def _list(self, request: web.Request) -> web.Response:
        page = int(request.query.get("page", "1"))
        ids = sorted(self.events)[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        more = page * PAGE_SIZE < len(self.events)
        summaries = [{**self.events[n], "members": None} for n in ids]
        return json_response({"events": summaries, "nextPage": page + 1 if more else None})

    async def _get(self, request: web.Request) -> web.Response:
        event = self.events.get(int(request.match_info["id"]))
        if event is None:
            raise ApiError(404, "no such club night")
        return json_response({"event": event})


# -- the plug-in ------------------------------------------------------------------------


def _client(options: provider.SourceOptions) -> ClubHubClient:
    base_url = options.base_url or os.environ.get("CLUBHUB_BASE_URL") or DEFAULT_BASE_URL
    return ClubHubClient(**{**options.keywords(), "base_url": base_url})


@asynccontextmanager
async def _fake() -> AsyncIterator[ClubHubClient]:
    async with FakeClubHub() as server, ClubHubClient(token=TOKEN, base_url=server.url) as client:
        yield client


def _participants_visible(event: common.Event) -> bool:
    return not isinstance(event.raw, ClubEvent) or event.raw.members is not None


PLUGIN = provider.ProviderPlugin(
    name=NAME,
    title="ClubHub",
    client=_client,
    source=ClubHubSource,
    credentials="CLUBHUB_TOKEN",
    environment=(
        provider.EnvVar("CLUBHUB_TOKEN", "ClubHub token"),
        provider.EnvVar("CLUBHUB_BASE_URL", f"ClubHub server (default {DEFAULT_BASE_URL})"),
    ),
    fake=_fake,
    participants_visible=_participants_visible,
)
