"""Which namespaces the fleet may run services in, as this listener's settings say: never the
system's own (kube-system, kube-public, kube-node-lease) nor the listener's, and only those
of allowed_namespaces when it names any. A write into another is refused at the listener
that takes it, naming the setting (config.py has the defaults); a record that comes from a peer with a laxer policy is not
applied in this cluster (logged), so no listener is made to run what its own settings refuse."""
from __future__ import annotations

from dataclasses import dataclass

from ansible_collections.multicluster.kube.plugins.module_utils.validation import ValidationError


@dataclass(frozen=True)
class NamespacePolicy:
    allowed: tuple = ()  # empty: any that is not refused
    refused: tuple = ()

    def why_refused(self, namespace: str) -> str:
        """Why a service may not run in `namespace` ("" when it may)."""
        if namespace in self.refused:
            return f"is refused (refused_namespaces: {', '.join(self.refused)})"
        if self.allowed and namespace not in self.allowed:
            return f"must be one of allowed_namespaces ({', '.join(self.allowed)})"
        return ""

    def check(self, namespace: str) -> None:
        why = self.why_refused(namespace)
        if why:
            raise ValidationError("namespace", why, namespace)
