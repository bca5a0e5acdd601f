"""A watch resumes where it left off: each watch request starts from the last resourceVersion
seen (bookmarks included), and only 410 Gone lists again (listener/watching.py, as the
reconciler follows Deployments)."""
from __future__ import annotations

import threading

from ansible_collections.multicluster.kube.plugins.module_utils.kubernetes_updater import ApiError
from ansible_collections.multicluster.kube.listener.reconciler import follow_deployments


class ScriptedApi:
    """Answers each watch request with the next scripted step: a list of (type, version)
    events, or an exception. Stops the follower when the script runs out."""

    def __init__(self, steps, stopping):
        self.steps, self.stopping = list(steps), stopping
        self.lists, self.watched_from = 0, []

    def list_deployments(self, selector, namespace=None):
        self.lists += 1
        return [], f"L{self.lists}"

    def watch_deployments(self, selector, namespace, resource_version, timeout):
        self.watched_from.append(resource_version)
        if not self.steps:
            self.stopping.set()
            return
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        for kind, version in step:
            yield kind, {"metadata": {"resourceVersion": version}}, version


def run(steps):
    stopping, woken = threading.Event(), []
    api = ScriptedApi(steps, stopping)
    follow_deployments(api, "app=x", "apps", lambda: woken.append(1), stopping)
    return api, len(woken)


def test_each_watch_resumes_from_the_last_version_seen():
    api, woken = run([[("ADDED", "5"), ("MODIFIED", "6")], [("BOOKMARK", "9")], []])
    assert api.lists == 1
    assert api.watched_from == ["L1", "6", "9", "9"]
    assert woken == 1 + 2, "the list, then one wake-up per change (bookmarks are none)"


def test_only_410_gone_lists_again():
    api, _woken = run([[("ADDED", "5")], ApiError(410, "Gone"), [("ADDED", "20")]])
    assert api.lists == 2
    assert api.watched_from == ["L1", "5", "L2", "20"]


def test_other_failures_retry_from_the_same_version():
    stopping = threading.Event()
    api = ScriptedApi([ApiError(500, "boom"), ConnectionError("reset")], stopping)
    waited = []
    stopping.wait = waited.append  # no real pause in a unit test
    follow_deployments(api, "app=x", None, lambda: None, stopping)
    assert api.lists == 1 and api.watched_from == ["L1", "L1", "L1"] and waited == [1.0, 1.0]
