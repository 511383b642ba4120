"""ClubHub: a third provider built outside ``common``, as a separately installed package would be.

Everything a provider needs is here, in about a hundred lines: a client on
:class:`common.BaseClient`, its model, a :class:`common.EventSource` adapter, a
fake server on loopback, and the :class:`common.provider.ProviderPlugin` that
plugs it in. The tests register it through an entry point (a ``.dist-info``
directory on the path, exactly what ``pip install`` writes) and by hand.
"""

from __future__ import annotations

import datetime as dt
import enum
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
from aiohttp import web

import common
from common.provider import EnvVar, ProviderPlugin, SourceOptions

DEFAULT_BASE_URL = "https://api.clubhub.invalid"
TOKEN = "club-token"


class ClubProvider(str, enum.Enum):
    """``common.Provider`` is a closed enum, so a third provider names itself with its own."""

    CLUBHUB = "clubhub"


@attrs.frozen
class ClubEvent:
    id: int
    title: str
    day: dt.date
    members: list[str] | None = None


@attrs.frozen
class _Listing:
    events: list[ClubEvent]


DECODER = common.Decoder(common.make_converter())


class ClubHubClient(common.BaseClient):
    """The whole client: credentials from ``$CLUBHUB_TOKEN``, two operations."""

    def __init__(
        self, *, token: str | None = None, base_url: str = DEFAULT_BASE_URL, **options: Any
    ) -> None:
        token = token or os.environ.get("CLUBHUB_TOKEN")
        if not token:
            raise common.MissingCredentialsError("pass token= or set CLUBHUB_TOKEN")
        super().__init__(
            base_url=base_url, auth=common.BearerAuth(token), decoder=DECODER, **options
        )

    async def list_events(self) -> list[ClubEvent]:
        return (await self._call("GET", "/events", _Listing)).events

    async def get_event(self, event_id: int) -> ClubEvent:
        path = common.build_path("/events/{id}", id=event_id)
        return await self._call("GET", path, ClubEvent, root="event")


def to_event(event: ClubEvent) -> common.Event:
    people = tuple(
        common.Participant(
            provider=ClubProvider.CLUBHUB,  # type: ignore[arg-type]
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
        provider=ClubProvider.CLUBHUB,  # type: ignore[arg-type]
        id=str(event.id),
        name=event.title,
        start_date=event.day,
        participants=people,
        raw=event,
    )


class ClubHubSource:
    """ClubHub as a :class:`common.EventSource`."""

    provider = ClubProvider.CLUBHUB

    def __init__(self, client: ClubHubClient) -> None:
        self.client = client

    async def iter_events(
        self, *, date_from: dt.date | None = None, date_to: dt.date | None = None
    ) -> AsyncIterator[common.Event]:
        for event in await self.client.list_events():
            if (date_from is None or event.day >= date_from) and (
                date_to is None or event.day <= date_to
            ):
                yield to_event(event)

    async def get_event(self, event_id: str) -> common.Event:
        return to_event(await self.client.get_event(int(event_id)))

    async def list_participants(self, event_id: str) -> list[common.Participant]:
        return list((await self.get_event(event_id)).participants)


class FakeClubHub:
    """Five club events on loopback; event 3's members are private (``null``)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.events = {
            n: {
                "id": n,
                "title": f"Club night #{n}",
                "day": f"2026-06-0{n}",
                "members": None if n == 3 else [f"member {m}" for m in range(n)],
            }
            for n in range(1, 6)
        }
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/events", self._list)
        app.router.add_get("/events/{id}", self._get)
        self._runner = web.AppRunner(app, access_log=None)
        self.url = ""

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append(request.path)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"message": "bad token"}, status=401)
        return await handler(request)  # type: ignore[no-any-return]

    async def _list(self, request: web.Request) -> web.Response:
        summaries = [{**e, "members": None} for e in self.events.values()]
        return web.json_response({"events": summaries})

    async def _get(self, request: web.Request) -> web.Response:
        event = self.events.get(int(request.match_info["id"]))
        if event is None:
            return web.json_response({"message": "no such event"}, status=404)
        return web.json_response({"event": event})

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def aclose(self) -> None:
        await self._runner.cleanup()

    async def __aenter__(self) -> FakeClubHub:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _client(options: SourceOptions) -> ClubHubClient:
    base_url = options.base_url or os.environ.get("CLUBHUB_BASE_URL") or DEFAULT_BASE_URL
    return ClubHubClient(**{**options.keywords(), "base_url": base_url})


@asynccontextmanager
async def _fake() -> AsyncIterator[ClubHubClient]:
    async with FakeClubHub() as server, ClubHubClient(token=TOKEN, base_url=server.url) as client:
        yield client


def _participants_visible(event: common.Event) -> bool:
    return not isinstance(event.raw, ClubEvent) or event.raw.members is not None


PLUGIN = ProviderPlugin(
    name="clubhub",
    title="ClubHub",
    client=_client,
    source=ClubHubSource,
    credentials="CLUBHUB_TOKEN",
    environment=(
        EnvVar("CLUBHUB_TOKEN", "ClubHub token"),
        EnvVar("CLUBHUB_BASE_URL", f"ClubHub server (default {DEFAULT_BASE_URL})"),
    ),
    fake=_fake,
    participants_visible=_participants_visible,
)
