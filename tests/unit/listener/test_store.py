"""The store: what save() returned from is on disk, also when many threads save at once
and their saves share commits; a stored record gives way only to a newer stamp."""
from __future__ import annotations

import threading

import pytest

from ansible_collections.multicluster.kube.plugins.module_utils.hlc import Stamp
from ansible_collections.multicluster.kube.plugins.module_utils.model import Cluster, Record
from ansible_collections.multicluster.kube.listener.store import Store


def cluster_record(name: str, ms: int) -> Record:
    return Record(f"cluster/{name}", Stamp(ms, 0, "a"), "test", Cluster(name=name, region="us", weight=ms))


def test_concurrent_saves_are_all_durable_and_the_newest_stamp_wins(tmp_path):
    store = Store(str(tmp_path / "s.sqlite3"))
    barrier = threading.Barrier(16)

    def saver(i):
        barrier.wait()
        for ms in range(1, 21):
            store.save([cluster_record(f"c{i}", ms), cluster_record("shared", ms * 16 + i)])

    threads = [threading.Thread(target=saver, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    held = {r.key: r for r in Store(str(tmp_path / "s.sqlite3")).load()}  # what a restart finds
    assert {k: r.stamp.physical_ms for k, r in held.items() if k != "cluster/shared"} == {
        f"cluster/c{i}": 20 for i in range(16)}
    assert held["cluster/shared"].stamp.physical_ms == 20 * 16 + 15


def test_a_failed_commit_fails_every_save_in_it_and_the_next_save_works(tmp_path):
    store = Store(str(tmp_path / "s.sqlite3"))
    real_commit = store._commit

    def failing_commit(rows):
        raise OSError("disk full")

    store._commit = failing_commit
    with pytest.raises(OSError, match="disk full"):
        store.save([cluster_record("a", 1)])
    store._commit = real_commit
    store.save([cluster_record("b", 1)])
    assert [r.key for r in store.load()] == ["cluster/b"]
