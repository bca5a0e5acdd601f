"""Make this checkout importable as the collection `multicluster.kube`.

Collection code imports itself as ansible_collections.multicluster.kube.*, so the
tests need a folder ansible_collections/multicluster/kube that is this checkout:
.cache/collections holds that link (the Makefile makes it too).
"""
from __future__ import annotations

import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / ".cache" / "collections"
LINK = COLLECTIONS / "ansible_collections" / "multicluster" / "kube"

if "ansible_collections" not in str(ROOT):  # ansible-test runs us from a real collection tree
    if not LINK.exists():
        LINK.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(ROOT, LINK.parent), LINK)
    sys.path.insert(0, str(COLLECTIONS))
