"""Listener configuration: defaults, then the file, then MULTICLUSTER_LISTENER_* variables,
then flags; bad settings are refused naming the setting."""
from __future__ import annotations

import pytest

from ansible_collections.multicluster.kube.listener import config
from ansible_collections.multicluster.kube.plugins.module_utils.model import ValidationError

BASE = ["--cluster", "us-east", "--region", "us", "--insecure", "--peer-token", "peers-only"]


def test_flags_win_over_variables_which_win_over_the_file(tmp_path):
    settings = tmp_path / "listener.yml"
    settings.write_text("heartbeat_interval: 2.0\nfailure_timeout: 9\nhold_down: 30\n")
    env = {"MULTICLUSTER_LISTENER_FAILURE_TIMEOUT": "8", "MULTICLUSTER_LISTENER_HOLD_DOWN": "20"}
    cfg = config.load(BASE + ["--config", str(settings), "--hold-down", "12"], env)
    assert (cfg.timing.heartbeat_interval, cfg.timing.failure_timeout, cfg.timing.hold_down) == (2.0, 8.0, 12.0)
    assert cfg.network.advertise == cfg.network.listen == "127.0.0.1:7443"


def test_a_deployment_namespace_is_the_only_namespace_managed():
    cfg = config.load(BASE + ["--deployment-namespace", "sim-7"], {})
    assert cfg.kubernetes.namespaces == ["sim-7"]


@pytest.mark.parametrize("argv, field", [
    (["--deployment-namespace", "Not_A_Name"], "deployment_namespace"),
    (["--deployment-namespace", "sim-7", "--namespace", "other"], "namespaces"),
    (["--heartbeat-interval", "0"], "heartbeat_interval"),
    (["--failure-timeout", "0.5"], "failure_timeout"),
    (["--anti-entropy-fanout", "three"], "anti_entropy_fanout"),
    (["--page-listen", "127.0.0.1"], "page_listen"),
    (["--metrics-listen", "127.0.0.1:99999"], "metrics_listen"),
    (["--allowed-namespace", "Shop"], "allowed_namespaces[0]"),
    (["--no-insecure", "--tls-cert", "l.crt", "--tls-key", "l.key", "--peer-listen", "127.0.0.1:7444"], "tls_ca"),
    (["--no-insecure", "--tls-cert", "l.crt", "--tls-key", "l.key", "--tls-ca", "ca.crt"], "peer_listen"),
    (["--peer-listen", "127.0.0.1:7443"], "peer_listen"),
    (["--peer-listen", "7444"], "peer_listen"),
    (["--peer-token-file", "peer-token"], "peer_token_file"),
])
def test_bad_settings_are_refused_naming_the_setting(argv, field):
    with pytest.raises(ValidationError) as refused:
        config.load(BASE + argv, {})
    assert refused.value.field == field


def test_an_unknown_setting_in_the_file_is_refused(tmp_path):
    settings = tmp_path / "listener.yml"
    settings.write_text("heartbeat_intervall: 2\n")
    with pytest.raises(ValidationError) as refused:
        config.load(BASE + ["--config", str(settings)], {})
    assert refused.value.field == "heartbeat_intervall"


def test_services_are_refused_in_system_namespaces_by_default_and_outside_the_allowed_ones_when_named():
    from ansible_collections.multicluster.kube.listener.server import namespaces_policy
    policy = namespaces_policy(config.load(BASE, {}).kubernetes)
    assert "refused_namespaces: kube-system" in policy.why_refused("kube-system")
    assert policy.why_refused("kube-node-lease") and not policy.why_refused("shop")
    scoped = namespaces_policy(config.load(BASE + ["--allowed-namespace", "shop", "--allowed-namespace", "web"],
                                           {"MULTICLUSTER_LISTENER_REFUSED_NAMESPACES": "kube-system,secrets"}).kubernetes)
    assert not scoped.why_refused("web") and "allowed_namespaces (shop, web)" in scoped.why_refused("default")
    with pytest.raises(ValidationError) as refused:
        scoped.check("secrets")
    assert refused.value.field == "namespace" and "refused_namespaces: kube-system, secrets" in str(refused.value)


def test_a_peer_token_is_required_even_in_plain_text():
    with pytest.raises(ValidationError) as refused:
        config.load(["--cluster", "us-east", "--region", "us", "--insecure", "--token", "clients"], {})
    assert refused.value.field == "peer_token"
    assert "never the clients'" in refused.value.rule


@pytest.mark.parametrize("in_files", [False, True])
def test_the_peer_token_must_differ_from_the_client_token(tmp_path, in_files):
    from ansible_collections.multicluster.kube.listener.server import credentials
    if in_files:
        (tmp_path / "client").write_text("same\n")
        (tmp_path / "peer").write_text("same")
        argv = ["--token-file", str(tmp_path / "client"), "--peer-token-file", str(tmp_path / "peer")]
    else:
        argv = ["--token", "same", "--peer-token", "same"]
    cfg = config.load(["--cluster", "us-east", "--region", "us", "--insecure"] + argv, {})
    with pytest.raises(ValidationError) as refused:
        credentials(cfg.network)
    assert refused.value.field == "peer_token" and "must differ from every client's token" in refused.value.rule
    assert "same" not in str(refused.value), "the token itself is never printed"
