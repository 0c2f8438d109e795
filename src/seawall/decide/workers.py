"""Worker processes (`seawall serve --workers N`): how many, whether a config can run on them, how
soon a dead one is restarted. Pure: plain values in, plain values out (workers.py acts on them).
"""

from __future__ import annotations

# A worker that lived this long before dying was serving, not crash-looping: restart it at once.
STEADY_S = 30.0
FIRST_DELAY_S = 0.5
MAX_DELAY_S = 30.0  # systemd's own restart backoff tops out in the same range
HEARTBEAT_S = 1.0  # how often a worker's event loop says it still turns


def worker_count(asked: str, usable_cores: int) -> int:
    """`--workers` as given: a positive count, or `auto` for the cores this process may run on."""
    if asked.strip().lower() == "auto":
        return max(1, usable_cores)
    try:
        count = int(asked)
    except ValueError:
        raise ValueError(f"--workers {asked!r}: a number of processes (1, 2, …) or auto") from None
    if count < 1:
        raise ValueError(f"--workers {count}: at least 1")
    return count


def workers_problem(workers: int, redis_url: str | None) -> str | None:
    """Why this config can't be right on `workers` processes, or None. Rate limits, quotas,
    deployment caps and circuits live in each process unless Redis holds them: each worker would
    admit its own share, and a key with rpm 20 would get 20 per worker."""
    if workers > 1 and not redis_url:
        return (f"{workers} workers need Redis for exact limits: set limits.redis_url (or --redis, or "
                f"SEAWALL_REDIS_URL) or run --workers 1. Without it rate limits, quotas, deployment caps and "
                f"circuits would be counted in each worker process, {workers} times what is configured.")
    return None


def worker_instances(instances: int | None, workers: int) -> int | None:
    """limits.instances counts gateways (machines, or processes started on their own); with
    --workers each worker is one more process taking its share of a limit while Redis is down
    (limits/share.py). None stays None: the share is then learned from Redis, where every worker
    is present on its own."""
    return None if instances is None else instances * workers


def restart_delay(uptime_s: float, previous_delay_s: float) -> float:
    """How long to wait before starting a worker again, given how long the dead one ran and the
    delay before its own start: none after a steady life; doubling while it keeps dying young, so
    a crash loop (a bad upstream certificate, a full disk) doesn't spin the CPU or flood the log."""
    if uptime_s >= STEADY_S:
        return 0.0
    return min(MAX_DELAY_S, max(FIRST_DELAY_S, previous_delay_s * 2))


def hung(last_beat_s: float, now_s: float, timeout_s: float) -> bool:
    """A worker whose event loop hasn't beaten for timeout_s is blocked (a stuck C call, an endless
    loop): alive to the kernel, serving no one, and never restarted unless killed."""
    return now_s - last_beat_s > timeout_s


def start_overdue(started_s: float, now_s: float, timeout_s: float) -> bool:
    """A worker not yet serving timeout_s after it was started is stuck in its start (a store or
    Redis that accepts the connection and never answers): it would hold its slot forever."""
    return now_s - started_s > timeout_s


def streams_allowed(open_files: int, workers: int, reserve: int = 64) -> int:
    """Concurrent streams the open-file limit leaves room for: a relayed stream holds two
    descriptors (the client's connection and the upstream's); each process keeps `reserve` for
    its store, logs, Redis and listening sockets. The limit is per process."""
    return workers * max(0, (open_files - reserve) // 2)
