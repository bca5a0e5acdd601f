"""The AWX material matches the playbook it drives."""
from __future__ import annotations

import json
import pathlib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]


def playbook_variables():
    play = yaml.safe_load((ROOT / "playbooks" / "set_region.yml").read_text())[0]
    optional = set(play["vars"])
    text = (ROOT / "playbooks" / "set_region.yml").read_text()
    required = {name for name in ("region", "service", "replicas") if f"{name} | mandatory" in text}
    return required, optional


def test_the_survey_asks_for_what_set_region_uses():
    survey = json.loads((ROOT / "docs" / "awx" / "set-region-survey.json").read_text())
    questions = {q["variable"]: q for q in survey["spec"]}
    required, optional = playbook_variables()
    assert {v for v, q in questions.items() if q["required"]} == required
    assert set(questions) - required <= optional
    assert (questions["replicas"]["min"], questions["replicas"]["max"]) == (0, 1_000_000)
    assert questions["region"]["max"] == questions["service"]["max"] == 63
    play = yaml.safe_load((ROOT / "playbooks" / "set_region.yml").read_text())[0]
    for name, question in questions.items():
        if name in play["vars"] and question.get("default") not in ("", None):
            assert question["default"] == play["vars"][name], name
    assert questions["wait"]["choices"] == ["committed", "propagated", "applied", "ready"]


def test_the_credential_type_injects_what_the_modules_read():
    credential = yaml.safe_load((ROOT / "docs" / "awx" / "credential-type.yml").read_text())
    fragment = (ROOT / "plugins" / "doc_fragments" / "listener.py").read_text()
    for variable in credential["injectors"]["env"]:
        assert f"E({variable})" in fragment, variable


def test_the_execution_environment_names_the_requirements():
    ee = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    for kind in ("python", "system"):
        assert (ROOT / ee["dependencies"][kind]).exists()
    assert "grpcio==" in (ROOT / ee["dependencies"]["python"]).read_text()
