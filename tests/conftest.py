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

sys.path.insert(0, str(ROOT / "tests"))  # lab_fixtures, shared by integration and chaos tests

if "ansible_collections" not in str(ROOT):  # ansible-test runs us from a real collection tree
    if not LINK.exists():
        LINK.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(ROOT, LINK.parent), LINK)
    sys.path.insert(0, str(COLLECTIONS))

from hypothesis import settings  # noqa: E402

# Derandomized: the same examples on every run, so CI and a developer see the same result.
# HYPOTHESIS_PROFILE=explore runs fresh random examples, many more of them.
settings.register_profile("default", max_examples=300, deadline=None, derandomize=True)
settings.register_profile("explore", max_examples=3000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
