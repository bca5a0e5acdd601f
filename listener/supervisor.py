"""Keep a listener running without systemd: restart it when it dies, stop it on SIGTERM, pass
SIGHUP on (the listener reads its credentials again).

python -m ansible_collections.multicluster.kube.listener.supervisor --pid-file F --log-file L -- ARGV...
detaches (double fork), writes its PID to F, appends the listener's output to L, and
restarts the listener with a growing pause (1 s to 30 s) whenever it exits by itself.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time


def _detach() -> None:
    """Double fork into a new session, with standard streams on /dev/null so whoever started
    us (an Ansible module waiting for our stderr) is not kept waiting."""
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)


def supervise(argv, log_file) -> None:
    stopping = False
    child = None

    def on_term(*_args):
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.terminate()

    def on_hup(*_args):  # the listener reads its credentials again
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGHUP)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, on_hup)
    pause = 1.0
    while not stopping:
        started = time.monotonic()
        with open(log_file, "ab") as log:
            child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        if stopping:  # SIGTERM came while the child was being started: it missed the terminate
            child.terminate()
        child.wait()
        if stopping:
            break
        pause = 1.0 if time.monotonic() - started > 60 else min(pause * 2, 30.0)
        with open(log_file, "ab") as log:
            log.write(f"supervisor: listener exited with {child.returncode}; restarting in {pause:.0f}s\n".encode())
        time.sleep(pause)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pid-file", required=True)
    parser.add_argument("--log-file", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("the listener's command line goes after --")
    _detach()
    # Whoever started us may have had signals blocked (a thread that spawned us mid-call):
    # start from a clean mask, or SIGTERM would never reach us nor the listener.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    with open(args.pid_file, "w") as f:
        f.write(f"{os.getpid()}\n")
    try:
        supervise(command, args.log_file)
    finally:
        try:
            os.unlink(args.pid_file)
        except FileNotFoundError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
