"""EVENTSYNC_LOG: request logs switched on from the environment, with no credential in them.

The end-to-end tests run a real interpreter with the variable set (it is read when a
client is constructed), against the fakes over loopback HTTP, with every auth form.
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import sys
import textwrap

from common._log import ENV_VAR, LOGGERS, _EnvHandler, configure_from_env

KEY = "ik-SECRET-key-0123"
ACCESS = "rw-SECRET-access-4567"
API_KEY = "rw-SECRET-apikey-89ab"
AUTH_TOKEN = "rw-SECRET-token-cdef"
SECRETS = (
    KEY,
    ACCESS,
    API_KEY,
    AUTH_TOKEN,
    base64.b64encode(f"{API_KEY}:{AUTH_TOKEN}".encode()).decode(),
)

SCRIPT = textwrap.dedent(
    f"""
    import asyncio

    import common
    from common.testing import Fault
    from intervals_async import IntervalsClient
    from intervals_async.testing import ALL_SCOPES, FakeIntervals
    from ridewithgps_async import RideWithGPSClient
    from ridewithgps_async.testing import FakeRideWithGPS

    NO_BACKOFF = common.RetryPolicy(backoff_base=0)
    ECHO = b'{{"error": {{"code": "BAD", "message": "you sent Bearer {KEY}"}}}}'


    async def main() -> None:
        async with FakeIntervals(api_keys={{"{KEY}": ALL_SCOPES}}) as fi, FakeRideWithGPS(
            access_token="{ACCESS}", api_key="{API_KEY}", auth_token="{AUTH_TOKEN}"
        ) as fr:
            fi.inject(Fault.http(503), path="/organization")
            fi.inject(Fault.raw(ECHO, status=400), path="/series")
            async with IntervalsClient(
                api_key="{KEY}", base_url=fi.url, retry_policy=NO_BACKOFF
            ) as client:
                await client.get_organization()  # a 503, then a 200: two attempts
                try:
                    await client.list_series()  # an error text echoing the key
                except common.BadRequestError:
                    pass
            for auth in (
                {{"access_token": "{ACCESS}"}},
                {{"api_key": "{API_KEY}", "auth_token": "{AUTH_TOKEN}"}},
                {{"api_key": "{API_KEY}", "auth_token": "{AUTH_TOKEN}", "auth_style": "basic"}},
            ):
                async with RideWithGPSClient(base_url=fr.url, **auth) as rw:
                    for name, secret in auth.items():  # a credential in the query
                        if name != "auth_style":
                            await rw.list_events(name=secret)


    asyncio.run(main())
    """
)


def run_script(**env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", SCRIPT],
        capture_output=True,
        text=True,
        timeout=120,
        env={**environ, **env},
    )


def test_eventsync_log_debug_logs_every_attempt_without_a_credential() -> None:
    result = run_script(EVENTSYNC_LOG="debug")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    assert any(
        "GET /organization -> 503 (attempt 1," in line and ": ServerError: " in line
        for line in lines
    ), lines
    assert any("GET /organization -> 200 (attempt 2," in line for line in lines), lines
    assert any("retrying GET /organization" in line for line in lines), lines
    echoed = [line for line in lines if "GET /series" in line]
    assert echoed and "you sent <redacted>" in echoed[0], echoed
    queries = [line for line in lines if "/api/v1/events.json?" in line]
    assert len(queries) == 5, queries  # one per credential sent as a name filter
    assert all("name=<redacted>" in line for line in queries), queries
    for secret in SECRETS:
        assert secret not in result.stderr
        assert secret not in result.stdout


def library_lines(stderr: str) -> list[str]:
    """Lines of the library's loggers (dev mode's asyncio slow-callback notes are not)."""
    return [line for line in stderr.splitlines() if any(f" {n}" in line for n in LOGGERS)]


def test_without_the_variable_nothing_is_logged() -> None:
    result = run_script()
    assert result.returncode == 0, result.stderr[-3000:]
    assert library_lines(result.stderr) == []
    quiet = run_script(EVENTSYNC_LOG="loud")  # not a level: changes nothing
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert library_lines(quiet.stderr) == []
    assert library_lines(run_script(EVENTSYNC_LOG="debug").stderr)  # the check sees them


def test_configure_from_env_adds_one_handler_per_logger() -> None:
    before = {name: logging.getLogger(name).level for name in LOGGERS}
    try:
        configure_from_env({})
        assert not any(
            isinstance(h, _EnvHandler) for n in LOGGERS for h in logging.getLogger(n).handlers
        )
        configure_from_env({ENV_VAR: " DEBUG "})
        configure_from_env({ENV_VAR: "info"})  # again: the level changes, no second handler
        for name in LOGGERS:
            logger = logging.getLogger(name)
            assert sum(isinstance(h, _EnvHandler) for h in logger.handlers) == 1
            assert logger.level == logging.INFO
    finally:
        for name, level in before.items():
            logger = logging.getLogger(name)
            for handler in [h for h in logger.handlers if isinstance(h, _EnvHandler)]:
                logger.removeHandler(handler)
            logger.setLevel(level)
