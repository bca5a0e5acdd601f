"""Clients files: identities found by their token's hash, roles and scopes, and bad files
refused naming the entry and the field (the token itself never printed)."""
from __future__ import annotations

import pytest
import yaml
from hypothesis import given, strategies as st

from ansible_collections.multicluster.kube.listener.identities import ROLES, Clients, Identity, token_hash
from ansible_collections.multicluster.kube.plugins.module_utils.model import ValidationError


def clients_file(*entries) -> str:
    return yaml.safe_dump(list(entries))


ALICE = {"name": "alice", "token_sha256": token_hash("alice-secret"), "role": "operator",
         "regions": ["us"], "namespaces": ["shop"]}
VIC = {"name": "vic", "token_sha256": token_hash("vic-secret"), "role": "viewer"}
ROOT = {"name": "root", "token_sha256": token_hash("root-secret"), "role": "admin"}


def test_a_token_finds_its_identity_and_nothing_else_does():
    clients = Clients.parse(clients_file(ALICE, VIC, ROOT))
    assert clients.identify("alice-secret") == Identity("alice", "operator", ("us",), ("shop",))
    assert clients.identify("vic-secret").role == "viewer"
    for wrong in ("", "alice", "alice-secret ", token_hash("alice-secret")):
        assert clients.identify(wrong) is None
    assert not clients.open


def test_roles_and_scopes():
    alice, vic, root = (Clients.parse(clients_file(e)).identify(t) for e, t in
                        ((ALICE, "alice-secret"), (VIC, "vic-secret"), (ROOT, "root-secret")))
    assert vic.why_not("viewer") == ""
    assert vic.why_not("operator") == "role: vic has the viewer role; this needs the operator role"
    assert alice.why_not("operator", "us", "shop") == ""
    assert alice.why_not("operator", "eu", "shop") == "region: alice may write services in us only, not in eu"
    assert alice.why_not("operator", "us", "default") == \
        "namespace: alice may write services in shop only, not in default"
    assert alice.why_not("admin").startswith("role: alice has the operator role")
    assert root.why_not("operator", "eu", "kube-system") == "" and root.why_not("admin") == ""


def test_one_token_is_an_admin_called_client_and_no_token_leaves_the_fleet_open():
    assert Clients.single("t").identify("t") == Identity("client", "admin")
    assert Clients.single("t").identify("u") is None
    assert Clients.single("").open and Clients.single("").identify("anything").role == "admin"


@pytest.mark.parametrize("entries, field", [
    ("not: a list", "clients_file"),
    ([], "clients_file"),
    (["alice"], "clients_file[0]"),
    ([{**ALICE, "password": "x"}], "clients_file[0].password"),
    ([{**ALICE, "name": "alice smith"}], "clients_file[0].name"),
    ([ALICE, {**VIC, "name": "alice"}], "clients_file[1].name"),
    ([{**ALICE, "token_sha256": "alice-secret"}], "clients_file[0].token_sha256"),
    ([ALICE, {**VIC, "token_sha256": ALICE["token_sha256"]}], "clients_file[1].token_sha256"),
    ([{**ALICE, "role": "owner"}], "clients_file[0].role"),
    ([{**ALICE, "regions": "us"}], "clients_file[0].regions"),
    ([{**ALICE, "namespaces": ["Shop"]}], "clients_file[0].namespaces[0]"),
])
def test_a_bad_clients_file_is_refused_naming_the_entry_and_the_field(entries, field):
    with pytest.raises(ValidationError) as refused:
        Clients.parse(entries if isinstance(entries, str) else clients_file(*entries))
    assert refused.value.field == field
    assert "alice-secret" not in str(refused.value)


@given(st.text(max_size=80), st.sampled_from(ROLES))
def test_only_the_token_itself_opens_an_identity(token, role):
    clients = Clients.parse(clients_file({"name": "someone", "token_sha256": token_hash("the-token"), "role": role}))
    assert (clients.identify(token) is not None) == (token == "the-token")
