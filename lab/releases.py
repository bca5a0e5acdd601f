"""Earlier releases of the collection, for the tests of rolling upgrades: a release's code,
taken from this repository's history by its commit, as a collections folder a listener of that
version runs from (ListenerFleet members' `collections`)."""
from __future__ import annotations

import pathlib
import subprocess

from lab.cluster import ROOT

RELEASES = {
    # the first version: re-encodes records from what it understands (drops unknown fields)
    "0.1.0": "600f4dae8188e188e1f374207611ebc560f5513b",
    # 0.1.0 that keeps records as their author encoded them, and says its version in heartbeats:
    # the version to upgrade from (docs/upgrading.md)
    "0.1.1": "c41f07b9538e30360cd34a8679e35f6d5288bae4",
}


def checkout(version: str, into) -> str:
    """The code of `version` under `into`/ansible_collections/multicluster/kube; returns the
    collections folder to run it from."""
    commit = RELEASES[version]
    target = pathlib.Path(into) / "ansible_collections" / "multicluster" / "kube"
    target.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=False)
    if archive.returncode != 0:
        raise RuntimeError(f"release {version} is commit {commit} of this repository, which this clone lacks "
                           f"(a shallow clone?): {archive.stderr.decode(errors='replace').strip()}")
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return str(pathlib.Path(into))
