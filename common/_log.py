"""Request logs switched on from the environment, with the credentials taken out.

``EVENTSYNC_LOG=debug`` (read when a client is constructed) gives the library's
loggers (``common``, ``intervals_async``, ``ridewithgps_async``) a handler on stderr
at DEBUG: one line per attempt (method, path with its query, status or error, attempt
number, time) and one per retry decision. ``EVENTSYNC_LOG=info`` shows only INFO and
above (warnings such as a Redis rate store falling back to local pacing). Any other
value, or none, changes nothing: logging stays as the application configured it.

Every attempt line goes through :func:`common._auth.redact` with the client's own
credentials, so a credential that reaches a path, a query or an error text is written
as ``<redacted>``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

from ._auth import redact, secret_values

__all__ = ["ENV_VAR", "configure_from_env", "log_attempt", "shown_by_env"]

ENV_VAR = "EVENTSYNC_LOG"
LOGGERS = ("common", "intervals_async", "ridewithgps_async")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}
#: An error text longer than this is cut (``redact`` also removes a credential cut in two).
_MAX_TEXT = 300


class _EnvHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``EVENTSYNC_LOG`` adds; its type marks it so it is added once."""


def configure_from_env(environ: Mapping[str, str] = os.environ) -> None:
    """Switch the library's logs on when ``EVENTSYNC_LOG`` says so (see the module doc)."""
    level = _LEVELS.get(environ.get(ENV_VAR, "").strip().lower())
    if level is None:
        return
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if not any(isinstance(handler, _EnvHandler) for handler in logger.handlers):
            handler = _EnvHandler(sys.stderr)
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
            )
            logger.addHandler(handler)


def shown_by_env(record: logging.LogRecord) -> bool:
    """Whether ``EVENTSYNC_LOG``'s own handler writes ``record`` (an application's
    handler on the root then leaves it out, rather than print it twice)."""
    top = logging.getLogger(record.name.partition(".")[0])
    return any(isinstance(handler, _EnvHandler) for handler in top.handlers)


def log_attempt(
    logger: logging.Logger,
    method: str,
    path: str,
    params: Mapping[str, str] | None,
    outcome: object,
    attempt: int,
    elapsed: float,
    headers: Mapping[str, str],
) -> None:
    """Log one attempt at DEBUG: ``outcome`` is the status, or the error it ended with;
    ``elapsed`` is in seconds.

    ``headers`` are the client's request headers: their credentials are redacted from
    the line.
    """
    # The shape of the line is the one the transport always wrote; an error adds its text.
    result, detail = str(outcome), ""
    if not isinstance(outcome, int):
        status = getattr(outcome, "status_code", None)  # an APIStatusError's
        result = str(status) if status is not None else type(outcome).__name__
        text = str(outcome)
        if len(text) > _MAX_TEXT:
            text = text[:_MAX_TEXT] + "…"
        detail = f": {type(outcome).__name__}: {text}"
    # Unescaped, as a person reads it, and so a credential is found as it was given.
    query = "&".join(f"{name}={value}" for name, value in (params or {}).items())
    target = f"{path}?{query}" if query else path
    line = f"{method} {target} -> {result} (attempt {attempt}, {elapsed * 1000:.1f} ms){detail}"
    logger.debug("%s", one_line(redact(line, secret_values(headers.items()))))


def one_line(text: str) -> str:
    """``text`` with its line breaks escaped: a server's text (or a query value) must not
    start a log line of its own, one that could pass for another record."""
    return text.replace("\r", "\\r").replace("\n", "\\n")
