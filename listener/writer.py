"""Local changes: stamped with this listener's clock, encoded, persisted and merged by the
replica, then pushed to the peers. The one way anything in a listener changes the fleet's state.
While some member would drop fields it does not know (listener/features.py), records are
encoded without them."""
from __future__ import annotations

import dataclasses
import threading

from ansible_collections.multicluster.kube.plugins.module_utils import messages
from ansible_collections.multicluster.kube.plugins.module_utils.model import ClusterStatus, Record

from ansible_collections.multicluster.kube.listener.features import RECORDS_WHOLE


class Writer:
    def __init__(self, region: str, clock, replica, replication, features):
        self.region = region
        self._clock, self._replica, self._replication = clock, replica, replication
        self._features = features
        # Held by a request across read, decide and write, so two requests at this listener
        # never decide from the same state (concurrent writes at two listeners are merged).
        self.lock = threading.Lock()

    def write(self, changes, author: str, follow=None):
        """Stamp, persist and merge local changes [(key, value or None for a delete)], then push
        them to every peer at once. Returns (records, {peer: future of acknowledgement}).
        follow(records): more changes made from the records just stamped (a service's history
        entry names its record's stamp), written with them."""
        for_older = not self._features.supported(RECORDS_WHOLE)
        records = [Record(key, self._clock.now(), author, value) for key, value in changes]
        if follow is not None:
            records += [Record(key, self._clock.now(), author, value) for key, value in follow(records)]
        records = [dataclasses.replace(r, raw=messages.record_to_message(r, for_older).SerializeToString())
                   for r in records]
        self._replica.commit(records)
        # Statuses matter at once only within the region (its coordinator waits for ready
        # replicas when failing back); other regions get them by anti-entropy.
        statuses_only = all(isinstance(r.value, ClusterStatus) for r in records)
        endpoints = self._replication.endpoints(self.region) if statuses_only else None
        return records, self._replication.push(records, endpoints)
