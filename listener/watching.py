"""Following a kind of Kubernetes object as kopf and client-go's informers do: one LIST gives
the objects and the resourceVersion to watch from; each watch request resumes from the last
version it saw (a bookmark's included), and only a 410 Gone (that version is too old) lists
again. Failures are logged once until it recovers, and retried every second."""
from __future__ import annotations

import logging

from ansible_collections.multicluster.kube.plugins.module_utils.kubernetes_updater import ApiError

log = logging.getLogger("multicluster.listener.watching")
WATCH_SECONDS = 300  # one watch request's length; the next resumes where it ended


def follow(list_objects, watch_objects, on_list, on_event, stopping, what: str,
           watch_seconds: int = WATCH_SECONDS) -> None:
    """Until `stopping` is set: on_list(items) after each LIST (anything may have changed while
    nothing was watched), on_event(type, obj) for each watch event after it, bookmarks included.

    list_objects() -> (items, resourceVersion); watch_objects(version, seconds) yields
    (type, obj, resourceVersion)."""
    version, failing = None, False
    while not stopping.is_set():
        try:
            if version is None:
                items, version = list_objects()
                on_list(items)
            for kind, obj, version in watch_objects(version, watch_seconds):
                on_event(kind, obj)
                if stopping.is_set():
                    return
            if failing:
                log.info("watch of %s resumed", what)
            failing = False
        except ApiError as err:
            if err.status == 410:
                log.info("watch of %s: version %s expired, listing again", what, version)
                version = None
                continue
            failing = _failed(what, err, failing, stopping)
        except Exception as err:  # the apiserver away, a connection cut: try again
            failing = _failed(what, err, failing, stopping)


def _failed(what, err, failing, stopping) -> bool:
    if not failing:
        log.warning("watch of %s failed (retrying every second): %s", what,
                    str(err).splitlines()[0] if str(err) else type(err).__name__)
    stopping.wait(1.0)
    return True
