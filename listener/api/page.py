"""The status page: the fleet as a person wants to see it, served over HTTP by each listener
(network.page_listen), read-only. GET / is the page (markup and a script, no data); GET
/fleet.json is what it shows, read with the client token as a bearer, as the Fleet service's
reads are; the page fetches it every second and redraws, so it follows writes and failures
without a reload. The page takes the token from its address's fragment (#token=...), which a
browser never sends to the server, and puts every value in as text, never as markup."""
from __future__ import annotations

import http.server
import json
import pathlib
import threading

from ansible_collections.multicluster.kube.plugins.module_utils.history import HISTORY_PREFIX
from ansible_collections.multicluster.kube.plugins.module_utils.model import global_config

PAGE = (pathlib.Path(__file__).parent / "page.html").read_bytes()
RECENT = 20  # changes the page lists


def fleet_view(replica, health, cluster: str) -> dict:
    """Regions with their clusters (health, version, room, services: desired, ready, updated)
    and services (placement, unplaced, reasons), and the most recent changes, newest first."""
    records = replica.snapshot()
    regions = global_config(records)["regions"]
    heard = {name: (ok, seconds, version) for name, ok, seconds, version, _features in health.report()}
    for region in regions.values():
        for name, node in region["clusters"].items():
            ok, seconds, version = heard.get(name, (False, None, ""))
            node.update(healthy=ok, last_heard_seconds=seconds, listener_version=version)
    changes = [{"key": r.key, "deleted": r.deleted, "by": r.author, "where": r.stamp.origin,
                "when_ms": r.stamp.physical_ms}
               for r in sorted(records, key=lambda r: r.stamp, reverse=True)
               if not r.key.startswith(("status/", HISTORY_PREFIX))][:RECENT]
    return {"answered_by": cluster, "regions": regions, "changes": changes}


def serve(host: str, port: int, view, authorized) -> http.server.ThreadingHTTPServer:
    """The page and its data; `view()` gives the data to whom `authorized(Authorization
    header)` says may read the fleet (any client identity: the page only reads)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server API)
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                self._send(200, "text/html; charset=utf-8", PAGE)
            elif path == "/fleet.json":
                if not authorized(self.headers.get("Authorization", "")):
                    self._send(401, "application/json", b'{"error": "missing or wrong bearer token"}')
                else:
                    self._send(200, "application/json", json.dumps(view()).encode())
            else:
                self._send(404, "text/plain", b"not found\n")

        def _send(self, status, kind, body):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline' 'self'; "
                                                        "style-src 'unsafe-inline'")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # a page polls every second: not news
            return

    server = http.server.ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="page", daemon=True).start()
    return server
