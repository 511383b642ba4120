"""Benchmarks: the library side by side with what a user would pick instead.

Run them with ``python3 tasks.py bench`` (or ``python -m benchmarks``); ``--smoke`` is a tiny
run for CI, ``--only 1,4`` picks figures. The results also go to
``benchmarks/results/figures.json`` (``--json FILE`` elsewhere), for plotting: a run of some
figures replaces their rows and keeps the others'. The fake servers
run in their own processes, each contender runs in turn against the same server, and the
final table prints ratios (library / contender) next to their goals:

1. sequential ``get_event``: library / bare aiohttp + orjson loop;
2. 5,000 ``get_event`` at concurrency 64: ``common.fetch_many`` / aiohttp ``gather`` + semaphore;
3. rate-limited bulk fetch: achieved rate / the server's limit, and the share of 429 answers;
4. decoding a 100-event and a 100-registration list: library / pydantic v2, and / the models
   openapi-python-client generates from the spec;
5. end to end over HTTP: library / the generated httpx client;
6. memory: peak RSS growth while streaming 100,000 RideWithGPS events;
7. rate control (issue 11): ``fetch_many`` of 300 ``get_event`` at concurrency 50 against
   a 20 ms server with a token bucket, limit known, unknown (whole-second ``Retry-After`` or
   epoch-ms body ``retryAfter``) or set too high: efficiency (ideal time / time) and the
   share of 429s; then 4 processes x 100 ids sharing one budget with and without Redis;
8. against what a careful user writes by hand (aiohttp + pydantic v2 models of the same
   shape): sequential ``get_event``, ``list_events(limit=100)``, and 2,000 ``get_event``
   through ``fetch_many`` / ``gather`` + a semaphore at concurrency 64.

Nothing here asserts on time: the goals are reported, not enforced. The exit status is
non-zero only when a figure could not run.
"""
