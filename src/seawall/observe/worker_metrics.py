"""/metrics with several worker processes (`seawall serve --workers N`): a scrape lands on one
worker, and must show the whole gateway.

Each worker copies its metric families (SeawallCollector's, metrics.py) into prometheus_client's
multiprocess files, one set per process id in a directory the supervisor made for this run; the
worker that serves a scrape merges every worker's with prometheus_client's MultiProcessCollector.
Not prometheus_client's multiprocess Counter and Histogram themselves: they write the mmap on
every increment, under a lock, and the request path counts in plain dicts by design (metrics.py).
So a worker copies its families every few seconds (workers.py METRICS_COPY_S, 5) and at each
scrape it serves, its own first: the others' counts are at most that old.

Counters and histograms are summed over every worker that ever ran in this supervisor's life: a
dead worker's files stay, so totals don't go back when it is restarted. Gauges merge by meaning,
over the live workers only (the supervisor drops a dead one's: mark_process_dead): requests in
flight and request-log rows pending are summed; circuit state, deployments out of rotation and
the build info take the highest worker's value (each worker judges its own circuits unless they
are shared).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

SUMMED_GAUGES = frozenset({"seawall_requests_in_flight", "seawall_request_log_pending"})


class WorkerFiles:
    """One worker's copy of its collector's families, in prometheus_client's multiprocess layout."""

    def __init__(self, directory: str, collector, pid: int | None = None):
        self._directory, self._collector = directory, collector
        self._pid = os.getpid() if pid is None else pid
        self._files: dict[str, MmapedDict] = {}
        # A sample's key in the files is JSON (mmap_key): made once per series, not per copy
        # (encoding every key each second took ~7 ms of event loop for ~400 series; now ~2 ms in all,
        # half of it building the families, on the busy 2-core VM).
        self._keys: dict[tuple, str] = {}

    def write(self) -> None:
        for family in self._collector.collect():
            if family.type == "gauge":
                mode = "livesum" if family.name in SUMMED_GAUGES else "livemax"
                out = self._file(f"gauge_{mode}")
            else:
                out = self._file(family.type)
            below: dict[tuple, float] = {}  # a histogram's buckets are cumulative; the files hold each alone
            for sample in family.samples:
                labels = sample.labels
                value = sample.value
                if family.type == "histogram":
                    if sample.name.endswith("_count"):
                        continue  # MultiProcessCollector counts the buckets
                    if sample.name.endswith("_bucket"):
                        same = tuple((k, v) for k, v in labels.items() if k != "le")
                        value, below[same] = value - below.get(same, 0.0), value
                series = (family.name, sample.name, *labels.items())
                key = self._keys.get(series)
                if key is None:
                    key = self._keys[series] = mmap_key(family.name, sample.name, list(labels), list(labels.values()),
                                                        family.documentation)
                out.write_value(key, value, 0.0)

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    def _file(self, kind: str) -> MmapedDict:
        f = self._files.get(kind)
        if f is None:
            f = self._files[kind] = MmapedDict(os.path.join(self._directory, f"{kind}_{self._pid}.db"))
        return f


class MergedCollector:
    """What a worker's /metrics serves: its own families written afresh, merged with the others'."""

    def __init__(self, files: WorkerFiles, directory: str):
        self._files = files
        self._merged = MultiProcessCollector(None, directory)

    def collect(self) -> Iterator:
        self._files.write()
        return iter(self._merged.collect())


def merged_registry(files: WorkerFiles, directory: str) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MergedCollector(files, directory))
    return registry


def forget_worker(directory: str, pid: int) -> None:
    """A worker ended: its gauges no longer count (its counters do)."""
    mark_process_dead(pid, directory)
