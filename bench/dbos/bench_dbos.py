"""duro's peer benchmark: the same workloads on DBOS Transact (Python).

    python bench_dbos.py --database-url postgres://postgres@127.0.0.1:5432/bench_dbos \
        --workflows 2000 --steps 10 --concurrency 16

Runs W workflows, each calling a trivial step (returns its input) K times in
sequence with the step number as input and checking every answer, C workflows
in flight at a time, after a warm-up. Prints one line of JSON on stdout:

    {"system":"dbos","version":"3.4.0","workflows":W,"steps":K,"concurrency":C,
     "seconds":...,"workflows_per_s":...,"steps_per_s":...,"p50_ms":...,"p99_ms":...}

Everything else (DBOS's own log, errors) goes to stderr; any failure, a wrong
result included, exits non-zero.

How the workflows are driven (--api, default "thread"): C client threads,
each looping `handle = DBOS.start_workflow(wf, K); handle.get_result()`, with
plain (synchronous) `@DBOS.workflow()` / `@DBOS.step()` functions. That is
DBOS's primary API, and the faster one for throughput: DBOS's async path runs
the same blocking SQLAlchemy calls, each pushed through `asyncio.to_thread`,
so it adds an event-loop hop per database call and gains no parallelism; it
measured slower in wf/s and p50 at every K and C tried (README.md). `--api async` runs the async variant (`async def` workflow and
step, C asyncio tasks each awaiting `DBOS.start_workflow_async` then
`handle.get_result()`) for comparison.

Latency is per workflow, from just before the start call to the result
returned; seconds is wall time from the first start to the last result.

Database: DBOS 3.x has no application database; its only database is the
"system database", given here as `system_database_url`, the --database-url
itself. DBOS creates its tables in the schema `dbos` of that database, so
dropping that one database (which the caller created) removes everything.
DBOS would create the database if it were missing; this script refuses to run
instead, so that it never leaves a database the caller does not know about.

Configuration: DBOS's defaults (system database pool of 20 connections,
unbounded executor threads), logging set to WARNING; see README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import math
import os
import sys
import threading
import time
from typing import List, Optional

import psycopg
from dbos import DBOS, DBOSConfig


# ---------------------------------------------------------------------------
# The workload. Registered at import, before DBOS.launch(), as DBOS requires.


@DBOS.step()
def echo_step(i: int) -> int:
    return i


@DBOS.workflow()
def steps_workflow(k: int) -> int:
    for i in range(k):
        r = echo_step(i)
        if r != i:
            raise RuntimeError(f"step {i} returned {r!r}")
    return k


@DBOS.step()
async def echo_step_async(i: int) -> int:
    return i


@DBOS.workflow()
async def steps_workflow_async(k: int) -> int:
    for i in range(k):
        r = await echo_step_async(i)
        if r != i:
            raise RuntimeError(f"step {i} returned {r!r}")
    return k


# ---------------------------------------------------------------------------
# Drivers. Each runs `count` workflows with `concurrency` in flight and
# returns (seconds, latencies in seconds); any failure raises.


def run_threads(count: int, steps: int, concurrency: int) -> tuple[float, List[float]]:
    lock = threading.Lock()
    next_index = [0]
    latencies: List[float] = []
    errors: List[BaseException] = []
    start_gate = threading.Barrier(concurrency + 1)

    def worker() -> None:
        mine: List[float] = []
        try:
            start_gate.wait()
            while True:
                with lock:
                    if errors or next_index[0] >= count:
                        break
                    next_index[0] += 1
                t0 = time.perf_counter()
                handle = DBOS.start_workflow(steps_workflow, steps)
                result = handle.get_result()
                t1 = time.perf_counter()
                if result != steps:
                    raise RuntimeError(
                        f"workflow {handle.get_workflow_id()} returned {result!r}, expected {steps}"
                    )
                mine.append(t1 - t0)
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            with lock:
                errors.append(e)
        finally:
            with lock:
                latencies.extend(mine)

    threads = [
        threading.Thread(target=worker, name=f"client-{i}", daemon=True)
        for i in range(concurrency)
    ]
    for t in threads:
        t.start()
    start_gate.wait()
    t_start = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t_start
    if errors:
        raise errors[0]
    if len(latencies) != count:
        raise RuntimeError(f"{len(latencies)} workflows finished, expected {count}")
    return seconds, latencies


async def run_tasks(count: int, steps: int, concurrency: int) -> tuple[float, List[float]]:
    next_index = 0
    latencies: List[float] = []

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            next_index += 1
            t0 = time.perf_counter()
            handle = await DBOS.start_workflow_async(steps_workflow_async, steps)
            result = await handle.get_result()
            t1 = time.perf_counter()
            if result != steps:
                raise RuntimeError(
                    f"workflow {handle.get_workflow_id()} returned {result!r}, expected {steps}"
                )
            latencies.append(t1 - t0)

    t_start = time.perf_counter()
    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
    seconds = time.perf_counter() - t_start
    if len(latencies) != count:
        raise RuntimeError(f"{len(latencies)} workflows finished, expected {count}")
    return seconds, latencies


# ---------------------------------------------------------------------------


def percentile(sorted_values: List[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def normalize_url(url: str) -> str:
    # SQLAlchemy 2 knows "postgresql://", not the "postgres://" alias libpq takes.
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://") :]
    return url


def libpq_url(url: str) -> str:
    # "postgresql+psycopg://" is SQLAlchemy's spelling; libpq wants the plain scheme.
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def check_database_exists(url: str) -> None:
    """Fail if the database is missing: DBOS would quietly create it."""
    with psycopg.connect(libpq_url(url), connect_timeout=10, autocommit=True) as conn:
        conn.execute("SELECT 1")


def xact_commit(url: str) -> Optional[int]:
    """Committed transactions of this database so far (pg_stat_database)."""
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=10, autocommit=True) as conn:
            row = conn.execute(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
            return int(row[0]) if row else None
    except Exception:  # noqa: BLE001 - a diagnostic only
        return None


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", required=True,
                    help="an existing PostgreSQL database for DBOS's system tables")
    ap.add_argument("--workflows", "-w", type=int, required=True, help="W: workflows timed")
    ap.add_argument("--steps", "-k", type=int, required=True, help="K: steps per workflow")
    ap.add_argument("--concurrency", "-c", type=int, required=True, help="C: workflows in flight")
    ap.add_argument("--warmup", type=int, default=None,
                    help="workflows run before timing, at the same concurrency "
                         "(default: max(50, C), so every client thread runs one)")
    ap.add_argument("--api", choices=("thread", "async"), default="thread",
                    help="sync workflows driven by C threads (default), or async ones by C tasks")
    ap.add_argument("--sys-db-pool-size", type=int, default=None,
                    help="DBOS's sys_db_pool_size (default: DBOS's own, 20)")
    ap.add_argument("--app-name", default="duro-bench",
                    help="DBOS application name")
    ap.add_argument("--log-level", default="WARNING", help="DBOS log level (to stderr)")
    ap.add_argument("--timeout", type=float, default=1800,
                    help="give up (exit 1) if the whole run takes longer than this many seconds")
    ap.add_argument("--count-transactions", action="store_true",
                    help="add xact_commit_per_workflow (from pg_stat_database) to the JSON")
    args = ap.parse_args(argv)

    for name in ("workflows", "steps", "concurrency"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1")
    warmup = args.warmup if args.warmup is not None else max(50, args.concurrency)

    url = normalize_url(args.database_url)
    check_database_exists(url)

    # A workflow that never finishes would hang the caller; this ends the
    # process instead (os._exit: DBOS's threads may be stuck).
    def watchdog() -> None:
        print(f"bench_dbos: no result after {args.timeout:g} s, giving up",
              file=sys.stderr, flush=True)
        os._exit(1)

    timer = threading.Timer(args.timeout, watchdog)
    timer.daemon = True
    timer.start()

    config: DBOSConfig = {
        "name": args.app_name,
        "system_database_url": url,
        "log_level": args.log_level,
    }
    if args.sys_db_pool_size is not None:
        config["sys_db_pool_size"] = args.sys_db_pool_size

    version = importlib.metadata.version("dbos")

    # PostgreSQL 15 flushes a backend's statistics at most once a second while
    # busy and ten seconds after it goes idle, or when it exits: so with
    # --count-transactions the count is read after a pause past the warm-up,
    # and again after DBOS.destroy() has closed its connections.
    def counter_before() -> Optional[int]:
        if not args.count_transactions:
            return None
        time.sleep(11)
        return xact_commit(url)

    if args.api == "thread":
        DBOS(config=config)
        DBOS.launch()
        try:
            if warmup > 0:
                run_threads(warmup, args.steps, min(args.concurrency, warmup))
            before = counter_before()
            seconds, latencies = run_threads(args.workflows, args.steps, args.concurrency)
        finally:
            DBOS.destroy()
    else:

        async def amain() -> tuple[float, List[float], Optional[int]]:
            DBOS(config=config)
            DBOS.launch()  # inside the loop, so DBOS adopts it as its main loop
            try:
                if warmup > 0:
                    await run_tasks(warmup, args.steps, min(args.concurrency, warmup))
                before = await asyncio.to_thread(counter_before)
                seconds, latencies = await run_tasks(args.workflows, args.steps, args.concurrency)
                return seconds, latencies, before
            finally:
                DBOS.destroy()

        seconds, latencies, before = asyncio.run(amain())

    per_wf: Optional[float] = None
    if before is not None:
        time.sleep(1)
        after = xact_commit(url)
        if after is not None:
            per_wf = (after - before) / args.workflows

    timer.cancel()
    latencies.sort()
    report = {
        "system": "dbos",
        "version": version,
        "workflows": args.workflows,
        "steps": args.steps,
        "concurrency": args.concurrency,
        "seconds": round(seconds, 4),
        "workflows_per_s": round(args.workflows / seconds, 1),
        "steps_per_s": round(args.workflows * args.steps / seconds, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
    }
    if args.api != "thread":
        report["api"] = args.api
    if args.count_transactions and per_wf is not None:
        report["xact_commit_per_workflow"] = round(per_wf, 2)
    print(json.dumps(report), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # noqa: BLE001
        print(f"bench_dbos: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
