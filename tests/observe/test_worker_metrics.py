"""Several workers' metrics merged into one scrape (observe/worker_metrics.py), on files in a temp
dir, without a server: counters and histograms add up, a dead worker's counts stay, its gauges go."""

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from seawall.config import default_settings, resolve_secrets
from seawall.observe.metrics import Histogram, Metrics, SeawallCollector
from seawall.observe.worker_metrics import WorkerFiles, forget_worker, merged_registry

CHAT = ("openai", "chat", "simulator", "gpt-4o-mini", "false", "2xx", "none")
TIMED = ("openai", "simulator", "gpt-4o-mini", "false")


class Worker:
    """One worker's counters and its files, as a worker process holds them."""

    def __init__(self, directory: str, pid: int, pending: int = 0):
        self.metrics = Metrics(resolve_secrets(default_settings(), {}, "http://127.0.0.1:1/v1"))
        self.collector = SeawallCollector(self.metrics, "9.9", dict, lambda: {"dropped": 1, "pending": pending})
        self.files = WorkerFiles(directory, self.collector, pid)

    def served(self, count: int, seconds: float, in_flight: int = 0) -> None:
        self.metrics.requests[CHAT] += count
        for _ in range(count):
            self.metrics.durations.setdefault(TIMED, Histogram())
            self.metrics.durations[TIMED].observe(seconds)
        self.metrics.in_flight["openai"] = in_flight
        self.files.write()


def scrape(registry: CollectorRegistry) -> dict[tuple, float]:
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict, name: str, **labels) -> float:
    return next(v for (n, ls), v in samples.items() if n == name and all((k, v) in ls for k, v in labels.items()))


def test_a_scrape_on_one_worker_shows_both(tmp_path):
    one, two = Worker(str(tmp_path), 101, pending=3), Worker(str(tmp_path), 102, pending=4)
    one.served(5, 0.015, in_flight=2)
    two.served(7, 3.0, in_flight=1)
    got = scrape(merged_registry(one.files, str(tmp_path)))
    assert value(got, "seawall_requests_total", model="gpt-4o-mini", status_class="2xx", dialect="openai",
                 operation="chat") == 12
    assert value(got, "seawall_request_duration_seconds_count", model="gpt-4o-mini") == 12
    assert value(got, "seawall_request_duration_seconds_sum", model="gpt-4o-mini") == 5 * 0.015 + 7 * 3.0
    assert value(got, "seawall_request_duration_seconds_bucket", model="gpt-4o-mini", le="0.02") == 5
    assert value(got, "seawall_request_duration_seconds_bucket", model="gpt-4o-mini", le="+Inf") == 12
    assert value(got, "seawall_requests_in_flight", dialect="openai") == 3  # summed over live workers
    assert value(got, "seawall_request_log_pending") == 7
    assert value(got, "seawall_request_log_dropped_total") == 2
    assert value(got, "seawall_build_info", version="9.9") == 1  # the highest, not a sum


def test_the_scraped_worker_counts_its_latest_requests(tmp_path):
    one, two = Worker(str(tmp_path), 101), Worker(str(tmp_path), 102)
    one.served(1, 0.1)
    two.served(1, 0.1)
    one.metrics.requests[CHAT] += 10  # not copied yet: the scrape copies the serving worker's first
    got = scrape(merged_registry(one.files, str(tmp_path)))
    assert value(got, "seawall_requests_total", model="gpt-4o-mini", status_class="2xx", dialect="openai",
                 operation="chat") == 12


def test_a_dead_worker_keeps_its_counts_and_loses_its_gauges(tmp_path):
    one, two = Worker(str(tmp_path), 101), Worker(str(tmp_path), 102)
    one.served(4, 0.1, in_flight=2)
    two.served(6, 0.1, in_flight=5)
    forget_worker(str(tmp_path), 102)  # the supervisor saw it die
    successor = Worker(str(tmp_path), 103)
    successor.served(1, 0.1)
    got = scrape(merged_registry(one.files, str(tmp_path)))
    assert value(got, "seawall_requests_total", model="gpt-4o-mini", status_class="2xx", dialect="openai",
                 operation="chat") == 11  # totals never go back when a worker is replaced
    assert value(got, "seawall_requests_in_flight", dialect="openai") == 2


def test_merged_families_match_one_process_scrape(tmp_path):
    """With one worker, the merged scrape says what the collector itself says (names, types, values)."""
    one = Worker(str(tmp_path), 101)
    one.served(3, 0.5, in_flight=1)
    plain = CollectorRegistry(auto_describe=False)
    plain.register(one.collector)
    expected = {k: v for k, v in scrape(plain).items() if not k[0].endswith("_created")}
    assert scrape(merged_registry(one.files, str(tmp_path))) == expected
