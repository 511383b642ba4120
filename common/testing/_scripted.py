"""A fake answering every path from a script of handlers, for testing HTTP clients."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from ._server import ApiError, FakeServer

__all__ = ["ScriptHandler", "ScriptedServer"]

ScriptHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
"""An aiohttp handler: one step of a :class:`ScriptedServer`'s script."""


class ScriptedServer(FakeServer):
    """Answers the ``n``-th request with the ``n``-th handler of its script, whatever the
    method and path (``request.match_info["tail"]`` is the path without its leading slash);
    the last handler answers every later request.

    For testing an HTTP client against exact answers and misbehaviour; the request log, faults
    and the rate limit work as in every fake. :meth:`answer` replaces the script; the step is
    ``len(requests)``, so clearing :attr:`requests` starts the script over.
    """

    shutdown_timeout = 0.2

    def __init__(self, *script: ScriptHandler, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on every path; ``script`` may also be given later with :meth:`answer`."""
        super().__init__(host=host, port=port)
        self.script: list[ScriptHandler] = list(script)
        """The handlers, in the order they answer."""
        self.app.router.add_route("*", "/{tail:.*}", self._handle)

    def answer(self, *script: ScriptHandler) -> None:
        """Replace the script."""
        self.script = list(script)

    @property
    def bodies(self) -> list[bytes]:
        """The raw body of every request received, in order."""
        return [request.body for request in self.requests]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not self.script:
            raise ApiError(500, "ScriptedServer has no script: call answer() first")
        step = min(len(self.requests), len(self.script)) - 1
        return await self.script[step](request)
