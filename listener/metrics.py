"""Prometheus metrics and the health endpoint, on their own HTTP port."""
from __future__ import annotations

import http.server
import threading

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.writes = Counter("multicluster_writes", "Writes accepted from clients", ["kind"], registry=r)
        self.propagation_delay = Histogram(
            "multicluster_propagation_delay_seconds", "From a record's stamp to its arrival here", registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.reconcile_errors = Counter("multicluster_reconcile_errors", "Failed reconciles of this cluster",
                                        registry=r)
        self.reconciles = Counter("multicluster_reconciles", "Reconciles of this cluster", registry=r)
        self.peers_up = Gauge("multicluster_peers_up", "Peers that answered the last call", registry=r)
        self.records_held = Gauge("multicluster_records_held", "Records in this listener's state", registry=r)
        self.last_record_received = Gauge(
            "multicluster_last_record_received_timestamp_seconds",
            "When this listener last took a newer record other than a status (a write here or from a peer)",
            registry=r)
        self.relayed = Counter("multicluster_relayed_records", "Records forwarded to this region for another "
                               "listener's write", registry=r)
        self.anti_entropy_repairs = Counter("multicluster_anti_entropy_repairs",
                                            "Records that anti-entropy brought in", registry=r)
        self.failovers = Counter("multicluster_failover_moves", "Placements moved by this coordinator",
                                 ["why"], registry=r)

    def count_traffic(self, traffic) -> None:
        """Export a transport's counts of calls made to peers and bytes sent and received
        ({(method, "calls" | "bytes_out" | "bytes_in"): count}, read at each scrape)."""
        self.registry.register(_Traffic(traffic))


class _Traffic:
    def __init__(self, traffic):
        self._traffic = traffic

    def collect(self):
        calls = CounterMetricFamily("multicluster_peer_calls", "Calls this listener made to peers", labels=["method"])
        sent = CounterMetricFamily("multicluster_peer_bytes", "Bytes of this listener's calls to peers",
                                   labels=["method", "direction"])
        for (method, what), count in sorted(dict(self._traffic).items()):
            if what == "calls":
                calls.add_metric([method], count)
            else:
                sent.add_metric([method, "out" if what == "bytes_out" else "in"], count)
        yield calls
        yield sent


def serve(metrics: Metrics, host: str, port: int, healthy) -> http.server.ThreadingHTTPServer:
    """GET /metrics (Prometheus text format) and GET /healthz (200 when `healthy()`)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server API)
            if self.path == "/metrics":
                body, status, kind = generate_latest(metrics.registry), 200, CONTENT_TYPE_LATEST
            elif self.path == "/healthz":
                ok = healthy()
                body, status, kind = (b"ok\n" if ok else b"unhealthy\n"), (200 if ok else 503), "text/plain"
            else:
                body, status, kind = b"not found\n", 404, "text/plain"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # quiet: scrapes are not news
            return

    server = http.server.ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
