"""What the benchmarks share: the lab and listeners, percentiles, results and plots."""
from __future__ import annotations

import collections
import json
import pathlib
import platform
import re
import signal
import sys
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / ".cache" / "collections"))
sys.path.insert(0, str(ROOT))

# A benchmark stopped with SIGTERM still runs its `finally` blocks, which stop the lab and the
# listeners it started; and its progress shows as it goes, also when written to a file.
signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
sys.stdout.reconfigure(line_buffering=True)

# A hundred listener processes share 2 cores: heartbeats every 5 s rather than every second,
# anti-entropy with 2 peers every 2 s rather than 3 every second, and no failover while half of
# each region is cut off (the failover benchmark's subject). The hundred simulated clusters
# share two apiservers' nodes, so every pod changes the room of fifty of them, which no real
# cluster's pods do to another's: their room alone is not reported (each would write its status
# to the whole fleet every room_interval while pods come and go; nothing here places by what
# fits). bench_scale.py.
SCALE_SETTINGS = {"heartbeat_interval": 5.0, "anti_entropy_interval": 2.0, "anti_entropy_fanout": 2,
                  "failure_timeout": 600.0, "hold_down": 600.0, "peer_timeout": 10.0, "resync_interval": 30.0,
                  "room_interval": 3600.0}

RESULTS = ROOT / "bench" / "results"
PLOTS = ROOT / "docs" / "performance"


def cpu_at_rest(fleet, others=(), settle: float = 20.0, window: float = 10.0) -> tuple:
    """After `settle` seconds, over `window`: each listener's share of one core (sorted), the
    processes `others` together (percent of one core), and how busy the whole machine was
    (percent of all its cores)."""
    from lab import processes

    time.sleep(settle)
    before = {n: processes.cpu_seconds(p) for n, p in fleet.pids.items()}
    others_before, machine_before = processes.total_cpu_seconds(others), processes.machine_cpu_seconds()
    time.sleep(window)
    busy, total = machine_seconds_since(machine_before)
    return (sorted(100 * (processes.cpu_seconds(p) - before[n]) / window for n, p in fleet.pids.items()),
            100 * (processes.total_cpu_seconds(others) - others_before) / window, 100 * busy / total)


def traffic(fleet, name) -> collections.Counter:
    """{(method, "calls" | "bytes_out" | "bytes_in"): count} of the calls the listener has made
    to peers so far, the bytes it sent in them and got in their answers; and ("Digest",
    "records_repaired"): the records its digest exchanges brought in. From its metrics."""
    url = f"http://{fleet.members[name].client_host}:{fleet.metrics_ports[name]}/metrics"
    with urllib.request.urlopen(url, timeout=30) as response:
        lines = response.read().decode().splitlines()
    counts = collections.Counter()
    for line in lines:
        if line.startswith(("multicluster_peer_calls_total{", "multicluster_peer_bytes_total{")):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            what = "calls" if "direction" not in labels else f"bytes_{labels['direction']}"
            counts[labels["method"], what] += float(line.rsplit(" ", 1)[1])
        elif line.startswith("multicluster_anti_entropy_repairs_total "):
            counts["Digest", "records_repaired"] += float(line.rsplit(" ", 1)[1])
    return counts


def fleet_traffic(fleet) -> tuple:
    """(calls, bytes sent) of the whole fleet to its peers so far."""
    totals = fleet_traffic_by_method(fleet)
    return (sum(n for (_m, what), n in totals.items() if what == "calls"),
            sum(n for (_m, what), n in totals.items() if what == "bytes_out"))


def fleet_traffic_by_method(fleet) -> collections.Counter:
    totals = collections.Counter()
    for name in fleet.names:
        totals.update(traffic(fleet, name))
    return totals


def machine_seconds_since(before) -> tuple:
    """(busy, all) CPU seconds of the machine since `before`, a processes.machine_cpu_seconds()."""
    from lab import processes

    return tuple(now - then for now, then in zip(processes.machine_cpu_seconds(), before))


def percentile(values, p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def machine() -> dict:
    import os
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def save(name: str, results: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({**results, "machine": machine(),
                                                      "when": time.strftime("%Y-%m-%d")}, indent=2) + "\n")


def _figure(width: float = 7, height: float = 4, columns: int = 1):
    """(pyplot, figure, its axes: one, or a row of `columns`)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    PLOTS.mkdir(parents=True, exist_ok=True)
    return plt, *plt.subplots(1, columns, figsize=(width, height))


def _save_figure(plt, fig, name: str) -> None:
    fig.tight_layout()
    fig.savefig(PLOTS / f"{name}.png", dpi=100)
    plt.close(fig)


def plot_rounds(name: str, title: str, series: dict, xlabel: str = "seconds") -> None:
    """One row per series: its median as a bar, each round as a dot."""
    plt, fig, ax = _figure(width=8, height=1.4 + 0.5 * len(series))
    labels = list(series)
    ax.barh(range(len(labels)), [percentile(series[k], 50) for k in labels], color="#9ecae1")
    for row, label in enumerate(labels):
        ax.plot(series[label], [row] * len(series[label]), "o", color="#08519c", markersize=4)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(True, axis="x", alpha=0.3)
    _save_figure(plt, fig, name)


def plot_cdf(name: str, title: str, series: dict, xlabel: str = "milliseconds") -> None:
    plt, fig, ax = _figure()
    for label, values in series.items():
        ordered = sorted(values)
        ax.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], label=label)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction of writes")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    _save_figure(plt, fig, name)


def wait(predicate, timeout: float, interval: float = 0.001):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not reached")
        time.sleep(interval)
