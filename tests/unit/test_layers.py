"""What the import contract (.importlinter, `make test-layers`) cannot see: no code outside
listener/replica.py touches a replica's state or its lock, and no code decides anything by a
reason's text (codes are for code, texts for people)."""
from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = sorted(p for folder in ("listener", "plugins") for p in (ROOT / folder).rglob("*.py")
                 if "proto" not in p.parts)
REPLICA_PRIVATE = {"_state", "_changed", "_index", "_confirmed", "_clusters", "_statuses", "_placed", "_promised",
                   "_subscribers", "_store"}


def attributes(path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute):
            yield node


def test_only_the_replica_touches_its_state_and_its_lock():
    offending = [f"{p.relative_to(ROOT)}:{node.lineno} .{node.attr}"
                 for p in SOURCES if p.name != "replica.py" for node in attributes(p)
                 if node.attr in REPLICA_PRIVATE and not (isinstance(node.value, ast.Name) and node.value.id == "self")]
    assert not offending, offending


def test_no_code_compares_a_reasons_text():
    offending = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                if any(isinstance(o, ast.Attribute) and o.attr in ("text", "reasons") for o in operands):
                    offending.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offending, offending


def test_the_checks_see_what_they_look_for(tmp_path):
    """Each check finds its own offence in a file that has one (they cannot pass by looking at nothing)."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f(replica, placement):\n    with replica._changed:\n        pass\n"
                   "    return 'x' in placement.reasons\n")
    assert [n.attr for n in attributes(bad)].count("_changed") == 1
    compares = [n for n in ast.walk(ast.parse(bad.read_text())) if isinstance(n, ast.Compare)]
    assert compares and compares[0].comparators[0].attr == "reasons"
    assert len(SOURCES) > 30
