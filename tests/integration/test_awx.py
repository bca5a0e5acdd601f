"""AWX for real, short of AWX itself: set_region.yml run through ansible-runner (the engine AWX
jobs run on) as a job template runs it - a project folder, the inventory, the survey's answers
as extra vars, the custom credential type's injectors rendered into environment variables -
against the lab; and the execution environment's Python requirements, as ansible-builder
gathers them from the installed collection, installed into a fresh virtualenv."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import ansible_runner
import jinja2
import pytest
import yaml

from ansible_collections.multicluster.kube.plugins.module_utils.history import histories

from support import wait_for

ROOT = pathlib.Path(__file__).resolve().parents[2]
VENV_BIN = pathlib.Path(sys.executable).parent
CREDENTIAL_TYPE = yaml.safe_load((ROOT / "docs" / "awx" / "credential-type.yml").read_text())
SURVEY = json.loads((ROOT / "docs" / "awx" / "set-region-survey.json").read_text())


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The collection as Galaxy ships it, installed where AWX puts a project's collections."""
    out = tmp_path_factory.mktemp("galaxy")
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1"}
    subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(out)], cwd=ROOT,
                   env=env, check=True, capture_output=True)
    [tarball] = out.glob("multicluster-kube-*.tar.gz")
    subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "--force", "-p",
                    str(out / "collections"), str(tarball)], cwd=out, env=env, check=True, capture_output=True)
    return tarball, out / "collections"


def injected(inputs: dict, private_data_dir: pathlib.Path) -> dict:
    """The credential type's env injectors rendered as AWX renders them: file injectors become
    files (tower.filename.<name>); a file whose inputs were not given is not made, and the
    variables naming it are not set."""
    files, made = {}, {}
    for key, template in CREDENTIAL_TYPE["injectors"].get("file", {}).items():
        name = key.split(".", 1)[1]
        content = jinja2.Template(template).render(**inputs)
        if content:
            path = private_data_dir / f"credential-{name}"
            path.write_text(content)
            made[name] = str(path)
        files[name] = made.get(name, "")
    env = {}
    for variable, template in CREDENTIAL_TYPE["injectors"]["env"].items():
        value = jinja2.Template(template).render(**inputs, tower={"filename": files})
        if value:
            env[variable] = value
    return env


def answers(namespace: str) -> dict:
    """The survey's answers for a job: the required ones and the defaults of the others."""
    given = {"region": "us", "service": "awx-web", "replicas": 3, "service_namespace": namespace, "wait": "applied"}
    questions = {q["variable"]: q for q in SURVEY["spec"]}
    assert set(given) <= set(questions), "the job answers only what the survey asks"
    return {**{v: q["default"] for v, q in questions.items() if q.get("default") not in (None, "")}, **given}


def test_set_region_runs_as_an_awx_job_through_ansible_runner(listeners, installed, namespace, tmp_path):
    _tarball, collections = installed
    private = tmp_path / "job"
    (private / "inventory").mkdir(parents=True)
    (private / "env").mkdir()
    # the inventory knows where each listener serves; the token comes from the credential only
    hosts = {n: {"listener_listen": listeners.endpoint(n)} for n in listeners.names}
    (private / "inventory" / "hosts.yml").write_text(yaml.safe_dump({"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "children": {"us": {"hosts": {n: hosts[n] for n in ("us-east", "us-west")}},
                     "eu": {"hosts": {n: hosts[n] for n in ("eu-central", "eu-west")}}}}}))
    env = {**injected({"endpoint": listeners.endpoint("us-east"), "token": listeners.token}, private),
           "ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_NOCOLOR": "1",
           "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    assert set(env) >= {"MULTICLUSTER_ENDPOINT", "MULTICLUSTER_TOKEN"} and "MULTICLUSTER_CA_PATH" not in env
    run = ansible_runner.run(private_data_dir=str(private), project_dir=str(ROOT), playbook="playbooks/set_region.yml",
                             extravars={**answers(namespace), "awx_user_name": "bob"}, envvars=env, quiet=True,
                             ident="job-1")  # AWX gives every job awx_user_name: whom it acts for
    stdout = run.stdout.read()
    assert (run.status, run.rc) == ("successful", 0), stdout[-4000:]
    assert run.stats["failures"] == {} and run.stats["ok"]
    shown = [e["event_data"]["res"]["msg"] for e in run.events
             if e["event"] == "runner_on_ok" and e["event_data"].get("task") == "Show the placement"]
    assert shown == ["awx-web in us: us-east=2, us-west=1"]
    artifacts = private / "artifacts" / "job-1"
    assert (artifacts / "rc").read_text() == "0" and (artifacts / "status").read_text() == "successful"
    assert any((artifacts / "job_events").iterdir())
    assert listeners.token not in (artifacts / "stdout").read_text(), "the credential's token is never shown"
    with listeners.client("eu-west") as c:
        assert wait_for(lambda: c.records(["service/us/awx-web"])[0], 10, what="the job's write at eu-west")
        history = wait_for(lambda: histories(c.records(with_history=True)[0]).get("us/awx-web"), 10,
                           what="the job's change in the service's history at eu-west")
    assert (history[0]["by"], history[0]["for"]) == ("client", "bob"), "the credential's identity, acting for the user"


def test_the_execution_environments_python_requirements_install_into_a_fresh_virtualenv(installed, tmp_path):
    tarball, collections = installed
    pip_file = tmp_path / "requirements.txt"
    subprocess.run([str(VENV_BIN / "ansible-builder"), "introspect", "--sanitize", "--write-pip", str(pip_file),
                    str(collections)], check=True, capture_output=True, text=True)
    wanted = {line.split("==")[0] for line in pip_file.read_text().splitlines() if line.strip()}
    assert {"grpcio", "protobuf", "kubernetes", "jsonpatch"} <= wanted, wanted
    venv = tmp_path / "ee-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "-r",
                              str(pip_file)], capture_output=True, text=True, check=False)
    assert install.returncode == 0, install.stderr[-3000:]
    imports = subprocess.run([str(venv / "bin" / "python"), "-c",
                              "import grpc, google.protobuf, kubernetes.dynamic, jsonpatch, prometheus_client"],
                             capture_output=True, text=True, check=False)
    assert imports.returncode == 0, imports.stderr
    # the build context docs/awx.md describes: ansible-builder 3 with the collection's tarball
    definition = tmp_path / "execution-environment.yml"
    definition.write_text(yaml.safe_dump({
        "version": 3, "images": {"base_image": {"name": "quay.io/ansible/awx-ee:latest"}},
        "dependencies": {"galaxy": {"collections": [{"name": tarball.name, "type": "file"},
                                                    {"name": "kubernetes.core"}]}}}))
    (tmp_path / tarball.name).write_bytes(tarball.read_bytes())
    create = subprocess.run([str(VENV_BIN / "ansible-builder"), "create", "-f", str(definition), "-c",
                             str(tmp_path / "context")], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert create.returncode == 0, create.stdout + create.stderr
    [recipe] = [p for p in (tmp_path / "context").iterdir() if p.name in ("Containerfile", "Dockerfile")]
    assert "introspect" in recipe.read_text(), "the build gathers the collections' Python requirements as above"
    galaxy = yaml.safe_load((tmp_path / "context" / "_build" / "requirements.yml").read_text())
    assert [c["name"] for c in galaxy["collections"]] == [tarball.name, "kubernetes.core"]
