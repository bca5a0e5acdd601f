"""Run a listener: python -m ansible_collections.multicluster.kube.listener --help"""
from __future__ import annotations

import json
import logging
import signal
import sys
import threading

from ansible_collections.multicluster.kube.plugins.module_utils.model import ValidationError

from ansible_collections.multicluster.kube.listener import config as config_mod
from ansible_collections.multicluster.kube.listener.server import Listener


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def main(argv=None) -> int:
    try:
        cfg = config_mod.load(argv)
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter() if cfg.operation.log_format == "json" else logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s"))
        logging.basicConfig(level=cfg.operation.log_level.upper(), handlers=[handler])
        listener = Listener(cfg)  # reads the token files
    except (ValidationError, OSError) as err:
        print(f"listener: bad configuration: {err}", file=sys.stderr)
        return 2
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    listener.start()
    # Credentials (token files, the clients file) are read again on SIGHUP, without a restart;
    # off the signal handler, which must not block on the listener's locks.
    signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=listener.reload_credentials,
                                                             name="reload", daemon=True).start())
    done.wait()
    listener.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
