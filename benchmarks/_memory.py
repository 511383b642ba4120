"""Figure 6's measuring process: stream every RideWithGPS event, report peak RSS growth.

Run in a fresh process (``python -m benchmarks._memory URL PAGE_SIZE``) so nothing the
other figures allocated hides the growth. It prints one JSON line: the events streamed,
the seconds taken, and the resident set before and the peak during streaming, in bytes.

The baseline is taken after one warm-up page (imports, session, decoding hooks are the
same for one page as for a million). The peak comes from ``VmHWM`` in
``/proc/self/status``, reset to the current RSS first when the kernel allows it (writing
``5`` to ``/proc/self/clear_refs``); elsewhere ``ru_maxrss`` is the fallback.
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import sys
import time
from pathlib import Path

from ridewithgps_async import RideWithGPSClient

from ._servers import RIDEWITHGPS_KEYS

_STATUS = Path("/proc/self/status")


def _status_kib(field: str) -> int | None:
    try:
        text = _STATUS.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _rss() -> int:
    kib = _status_kib("VmRSS")
    if kib is not None:
        return kib * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _peak() -> int:
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def measure(url: str, page_size: int) -> dict[str, object]:
    """Stream every event through ``iter_events(page_size=...)``; the measurements."""
    api_key, auth_token = RIDEWITHGPS_KEYS
    async with RideWithGPSClient(api_key=api_key, auth_token=auth_token, base_url=url) as client:
        warm = await client.list_events(page=1, page_size=page_size)
        del warm
        gc.collect()
        peak_reset = _reset_peak()
        baseline = _rss()
        peak_before = _peak()
        started = time.perf_counter()
        count = 0
        async for _event in client.iter_events(page_size=page_size):
            count += 1
        seconds = time.perf_counter() - started
        peak = _peak()
    return {
        "events": count,
        "seconds": seconds,
        "baseline_rss": baseline,
        "peak_before": peak_before,
        "peak_rss": peak,
        "peak_reset": peak_reset,
        # without a reset the old peak may stand above the baseline: growth from it instead
        "growth": peak - (baseline if peak_reset else max(baseline, peak_before)),
    }


def main(argv: list[str]) -> None:
    """``URL PAGE_SIZE``: print the measurements as one JSON line."""
    url, page_size = argv[0], int(argv[1])
    print(json.dumps(asyncio.run(measure(url, page_size))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
