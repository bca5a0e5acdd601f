"""A network split in two, in network namespaces of our own, to partition many listeners at
once without a proxy per pair.

    side a ==across== side b         listeners of side a reach side b over `across`;
        \\           /                taking it down partitions a from b, both ways
          hub                         the caller, the lab's apiservers (one per side)

The hub has a veth to each side: it reaches every listener, and each side reaches the
apiserver on its own hub address, so cutting the link between the sides cuts nothing else.
The host's own network namespace is never changed: the caller moves itself into the hub
(enter()) before it starts any thread or process.
"""
from __future__ import annotations

import ctypes
import os
import subprocess

from lab.processes import CLONE_NEWNET
SIDES = ("a", "b")
# Private namespaces: these addresses are seen by nothing outside them.
LINK_ADDRESS = {"a": "10.203.0.1", "b": "10.203.0.2"}   # each side, on the link between the sides
SIDE_ADDRESS = {"a": "10.203.1.2", "b": "10.203.2.2"}   # each side, as the hub reaches it
HUB_ADDRESS = {"a": "10.203.1.1", "b": "10.203.2.1"}    # the hub, as each side reaches it


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode:
        raise OSError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def setns(name: str) -> None:
    """Move the calling thread into network namespace `name` (threads and processes it starts
    afterwards inherit it)."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if ctypes.CDLL(None, use_errno=True).setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name}")
    finally:
        os.close(fd)


class SplitNetwork:
    def __init__(self, prefix: str | None = None):
        prefix = prefix or f"mck{os.getpid()}"
        self.names = {"hub": f"{prefix}-hub", "a": f"{prefix}-a", "b": f"{prefix}-b"}
        self.created = []
        try:
            for name in self.names.values():
                _ip("netns", "add", name)
                self.created.append(name)
                _ip("-n", name, "link", "set", "lo", "up")
            hub = self.names["hub"]
            for side in SIDES:
                ns = self.names[side]
                _ip("link", "add", "name", "side-" + side, "netns", hub, "type", "veth", "peer", "name", "hub", "netns", ns)
                _ip("-n", hub, "addr", "add", f"{HUB_ADDRESS[side]}/24", "dev", "side-" + side)
                _ip("-n", ns, "addr", "add", f"{SIDE_ADDRESS[side]}/24", "dev", "hub")
                _ip("-n", hub, "link", "set", "side-" + side, "up")
                _ip("-n", ns, "link", "set", "hub", "up")
            _ip("link", "add", "name", "across", "netns", self.names["a"], "type", "veth", "peer", "name", "across",
                "netns", self.names["b"])
            for side in SIDES:
                _ip("-n", self.names[side], "addr", "add", f"{LINK_ADDRESS[side]}/24", "dev", "across")
            self.heal()
        except BaseException:
            self.remove()
            raise

    def enter(self) -> None:
        setns(self.names["hub"])

    def namespace(self, side: str) -> str:
        return self.names[side]

    def cut(self) -> None:
        """Partition side a from side b (both ways); each still reaches the hub."""
        for side in SIDES:
            _ip("-n", self.names[side], "link", "set", "across", "down")

    def heal(self) -> None:
        for side in SIDES:
            _ip("-n", self.names[side], "link", "set", "across", "up")

    def remove(self) -> None:
        """Delete the namespaces (their veths go with them). Processes still inside keep
        them alive until they end: stop those first."""
        for name in reversed(self.created):
            _ip("netns", "delete", name)
        self.created = []

    def __enter__(self) -> "SplitNetwork":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()
