"""Starting and ending the lab's processes, by PID only."""
from __future__ import annotations

import ctypes
import os
import random
import signal
import socket
import subprocess
import time


CLONE_NEWNET = 0x40000000
_handed_out = set()


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range, so that the many outgoing
    connections of a large lab cannot take it between now and the moment a server binds it,
    and never one this process handed out already."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
    except (OSError, ValueError):
        ephemeral_low = 32768
    for _attempt in range(200):
        port = random.randrange(10000, max(10001, ephemeral_low))
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            _handed_out.add(port)
            return port
    with socket.socket() as sock:  # all tried were busy: let the kernel choose
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spawn(argv, log_path, env=None, netns=None) -> int:
    """Start argv in its own session (so Ctrl-C at the terminal does not reach it), logging to
    log_path; inside network namespace `netns` when given (lab/netns.py)."""
    # A KUBECONFIG from the caller's environment must not steer the lab's own components.
    env = {k: v for k, v in (env or os.environ).items() if k != "KUBECONFIG"}
    # Entered between fork and exec, so the PID runs our binary from its first instruction
    # (`ip netns exec` would show up as `ip` for a moment, and is_ours would disown it).
    namespace_fd = os.open(f"/run/netns/{netns}", os.O_RDONLY) if netns else None
    preexec = _entering(namespace_fd, netns) if netns else None
    try:
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, close_fds=True, env=env, preexec_fn=preexec)
    finally:
        if netns:
            os.close(namespace_fd)
    return proc.pid


def _entering(namespace_fd: int, name: str):
    """A function for the child to call before exec: into the network namespace."""
    setns = ctypes.CDLL(None, use_errno=True).setns

    def enter():
        if setns(namespace_fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name}")
    return enter


def is_ours(pid: int, binary: str) -> bool:
    """The PID is alive and still runs our binary (not a process that reused the PID).
    /proc/PID/exe, not cmdline: cmdline reads empty while a starting Go runtime holds its
    memory map lock."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)")
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return exe == binary and state != "Z"


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop(pid: int, binary: str, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; only if the PID still runs `binary`."""
    stop_all([pid], binary, grace)


def stop_all(pids, binary: str, grace: float = 10.0) -> None:
    """stop() for many at once: all are told first, so they wind down side by side."""
    running = [pid for pid in pids if is_ours(pid, binary)]
    for pid in running:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while running and time.monotonic() < deadline:
        for pid in running:
            _reap(pid)
        running = [pid for pid in running if is_ours(pid, binary)]
        time.sleep(0.05)
    for pid in running:
        os.kill(pid, signal.SIGKILL)
    while running:
        for pid in running:
            _reap(pid)
        running = [pid for pid in running if is_ours(pid, binary)]
        time.sleep(0.05)


def kill(pid: int, binary: str) -> None:
    """SIGKILL at once: a crash, for fault tests."""
    if is_ours(pid, binary):
        os.kill(pid, signal.SIGKILL)
        while is_ours(pid, binary):
            _reap(pid)
            time.sleep(0.02)


def machine_cpu_seconds() -> tuple:
    """(busy, all) CPU seconds of the whole machine so far, over every core (/proc/stat)."""
    with open("/proc/stat") as f:
        ticks = [int(t) for t in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK"), sum(ticks) / os.sysconf("SC_CLK_TCK")


def total_cpu_seconds(pids) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0
