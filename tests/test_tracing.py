"""The OpenTelemetry recipe of docs/guides/observability.md, with the real instrumentation.

``opentelemetry-instrumentation-aiohttp-client``'s trace config goes in through the
clients' ``trace_configs=``; an in-memory exporter of ``opentelemetry-sdk`` collects the
spans. One span per attempt on the wire, retries included, and no credential in a span.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal, NamedTuple

import aiohttp
import pytest
from opentelemetry.instrumentation.aiohttp_client import create_trace_config
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import common
from common.testing import Fault
from intervals_async import IntervalsClient
from intervals_async.testing import ALL_SCOPES, FakeIntervals
from ridewithgps_async import RideWithGPSClient
from ridewithgps_async.testing import FakeRideWithGPS

pytestmark = pytest.mark.anyio

NO_BACKOFF = common.RetryPolicy(backoff_base=0)
KEY = "ik-TRACE-secret-0123"
API_KEY, AUTH_TOKEN = "rw-TRACE-apikey-4567", "rw-TRACE-token-89ab"


class Tracing(NamedTuple):
    """The recipe's parts: what goes into ``trace_configs=``, and where the spans land."""

    configs: list[aiohttp.TraceConfig]
    exporter: InMemorySpanExporter

    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()


@pytest.fixture
def tracing() -> Iterator[Tracing]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()  # not the global one: nothing leaks into other tests
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield Tracing([create_trace_config(tracer_provider=provider)], exporter)
    provider.shutdown()


def status_codes(spans: tuple[ReadableSpan, ...]) -> list[object]:
    return [(span.attributes or {}).get("http.status_code") for span in spans]


async def test_one_span_per_attempt_retries_included(tracing: Tracing) -> None:
    async with FakeIntervals(api_keys={KEY: ALL_SCOPES}) as server:
        server.inject(Fault.http(503), Fault.disconnect(), path="/organization")
        async with IntervalsClient(
            api_key=KEY,
            base_url=server.url,
            retry_policy=NO_BACKOFF,
            trace_configs=tracing.configs,
        ) as client:
            await client.get_organization()  # 503, a dropped connection, then 200
            await client.list_series()
    spans = tracing.spans()
    assert [span.name for span in spans] == ["GET"] * 4
    assert status_codes(spans) == [503, None, 200, 200]
    assert spans[1].status.status_code is StatusCode.ERROR  # the dropped connection
    assert len(spans) == len(server.requests)  # what the server saw, attempt by attempt
    urls = [(span.attributes or {}).get("http.url", "") for span in spans]
    assert all(str(url).endswith("/organization") for url in urls[:3]), urls


async def test_a_failed_call_has_a_span_for_each_attempt(tracing: Tracing) -> None:
    async with FakeIntervals(api_keys={KEY: ALL_SCOPES}) as server:
        server.inject(*[Fault.http(500)] * 3, path="/organization")
        async with IntervalsClient(
            api_key=KEY,
            base_url=server.url,
            retry_policy=NO_BACKOFF,
            max_retries=2,
            trace_configs=tracing.configs,
        ) as client:
            with pytest.raises(common.ServerError) as info:
                await client.get_organization()
    assert info.value.attempts == 3
    assert status_codes(tracing.spans()) == [500, 500, 500]


@pytest.mark.parametrize("auth_style", ["headers", "basic"])
async def test_spans_carry_no_credential(
    tracing: Tracing, auth_style: Literal["headers", "basic"]
) -> None:
    async with (
        FakeRideWithGPS(api_key=API_KEY, auth_token=AUTH_TOKEN) as server,
        RideWithGPSClient(
            api_key=API_KEY,
            auth_token=AUTH_TOKEN,
            auth_style=auth_style,
            base_url=server.url,
            trace_configs=tracing.configs,
        ) as client,
    ):
        await client.list_events(page_size=20)
    spans = tracing.spans()
    assert status_codes(spans) == [200]
    text = "".join(span.to_json() for span in spans)
    assert API_KEY not in text and AUTH_TOKEN not in text
