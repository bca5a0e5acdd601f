#!/usr/bin/python
# Copyright: multicluster.kube contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: listener_process
short_description: Run a listener as a supervised background process, where there is no systemd
version_added: 0.1.0
description:
  - Starts, stops or restarts a multicluster.kube listener under the collection's small supervisor,
    which restarts the listener when it dies, with a PID file and a log file.
  - Used by the C(multicluster.kube.listener) role's C(process) runtime on hosts without systemd;
    with systemd the role installs a unit instead.
author:
  - multicluster.kube contributors (@multicluster-kube)
extends_documentation_fragment:
  - multicluster.kube.attributes
  - multicluster.kube.attributes.platform
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  idempotent:
    support: partial
    details: V(started) and V(stopped) are idempotent; V(restarted) restarts the listener on every run.
  platform:
    platforms: linux
    details: It finds the supervisor and the listener through C(/proc).
options:
  config:
    description: The listener's configuration file (YAML).
    type: path
    required: true
  pid_file:
    description: Where the supervisor keeps its PID.
    type: path
    required: true
  log_file:
    description: The listener's log.
    type: path
    required: true
  python:
    description: Python interpreter with grpcio, protobuf, kubernetes, PyYAML and prometheus-client.
    type: path
    required: true
  collections_path:
    description: The folder that holds C(ansible_collections/multicluster/kube).
    type: path
    required: true
  state:
    description: V(started) and V(stopped) change nothing when already so; V(restarted) always restarts.
    type: str
    choices: [started, stopped, restarted]
    default: started
"""

EXAMPLES = r"""
- name: Keep the listener of us-east running
  multicluster.kube.listener_process:
    config: /var/lib/multicluster-kube/us-east/listener.yml
    pid_file: /var/lib/multicluster-kube/us-east/listener.pid
    log_file: /var/lib/multicluster-kube/us-east/listener.log
    python: /usr/bin/python3
    collections_path: /usr/share/ansible/collections
"""

RETURN = r"""
pid:
  description: PID of the supervisor, 0 when stopped.
  returned: always
  type: int
  sample: 4242
"""

import os
import signal
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule

SUPERVISOR = "ansible_collections.multicluster.kube.listener.supervisor"


def running_pid(pid_file: str) -> int:
    """The supervisor's PID if the PID file names a live supervisor, else 0."""
    try:
        with open(pid_file) as f:
            pid = int(f.read().strip() or 0)
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return 0
    return pid if SUPERVISOR.encode() in argv else 0


def start(p) -> int:
    env = dict(os.environ, PYTHONPATH=p["collections_path"])
    subprocess.run([p["python"], "-m", SUPERVISOR, "--pid-file", p["pid_file"], "--log-file", p["log_file"], "--",
                    p["python"], "-m", "ansible_collections.multicluster.kube.listener", "--config", p["config"]],
                   env=env, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pid = running_pid(p["pid_file"])
        if pid:
            return pid
        time.sleep(0.1)
    return 0


def stop(pid: int, pid_file: str) -> None:
    """SIGTERM to the supervisor (it stops the listener); if it is not done in 15 s, SIGKILL
    its whole process group (its own session), so no listener is left orphaned."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while running_pid(pid_file) == pid and time.monotonic() < deadline:
        time.sleep(0.1)
    if running_pid(pid_file) == pid:
        os.killpg(os.getpgid(pid), signal.SIGKILL)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            config=dict(type="path", required=True),
            pid_file=dict(type="path", required=True),
            log_file=dict(type="path", required=True),
            python=dict(type="path", required=True),
            collections_path=dict(type="path", required=True),
            state=dict(type="str", choices=["started", "stopped", "restarted"], default="started"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    pid = running_pid(p["pid_file"])
    wanted = p["state"]
    changed = wanted == "restarted" or (wanted == "started") != bool(pid)
    if not changed or module.check_mode:
        module.exit_json(changed=changed, pid=pid)
    if pid:
        stop(pid, p["pid_file"])
        pid = 0
    if wanted in ("started", "restarted"):
        try:
            pid = start(p)
        except subprocess.CalledProcessError as error:
            module.fail_json(msg=f"the listener's supervisor did not start: {error.stderr.decode(errors='replace')}")
        if not pid:
            module.fail_json(msg=f"the listener did not start; see {p['log_file']}")
    module.exit_json(changed=True, pid=pid)


if __name__ == "__main__":
    main()
