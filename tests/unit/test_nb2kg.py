"""hub.gateway_client = "nb2kg": the Pythons it is refused on (before any change), its venv and checks in the
gateway_client step, and the hub config that spawns the classic notebook with KG_* (no token in the file)."""

import ast

from jeg_wizard import preflight, render
from jeg_wizard.actions import Venv
from jeg_wizard.engine import make_context
from jeg_wizard.layout import Layout
from jeg_wizard.releases import NB2KG_PYTHONS, NB2KG_REQUIREMENTS
from jeg_wizard.runner import DryRunRunner
from jeg_wizard.steps import gateway_client

from .test_gateway_python import fake_python


def test_unsupported_python_refused_before_any_change_naming_both_keys(tmp_answers, tmp_path):
    for version in ("3.12.3", "3.13.5"):
        py = fake_python(tmp_path, version)
        a = tmp_answers(system={"python": py}, hub={"gateway_client": "nb2kg"}, spark={"version": "4.2.1"})
        (msg,) = preflight.python_problems(a)
        assert msg.startswith("hub.gateway_client: 'nb2kg' needs the classic Notebook 5.7")
        assert f"system.python ({py}) is Python {version}" in msg
        assert "Python 3.10 to 3.11" in msg and 'hub.gateway_client = "builtin"' in msg
        assert msg in preflight.problems(a, need_root=False)  # the gate `install` runs before anything changes
        # the default client is not concerned
        assert preflight.python_problems(tmp_answers(system={"python": py}, spark={"version": "4.2.1"})) == []


def test_supported_pythons_pass_with_nb2kg(tmp_answers, tmp_path):
    assert NB2KG_PYTHONS == ((3, 10), (3, 11))
    for version in ("3.10.12", "3.11.2"):
        a = tmp_answers(
            system={"python": fake_python(tmp_path, version)},
            hub={"gateway_client": "nb2kg"},
            spark={"version": "3.5.3"},
        )
        assert preflight.python_problems(a, offline=True) == [], version


def test_nb2kg_is_accepted_by_the_answers(tmp_answers):
    from jeg_wizard.answers import cross_checks

    a = tmp_answers(hub={"gateway_client": "nb2kg"})
    assert not [p for p in cross_checks(a) if "gateway_client" in p]


def test_the_step_builds_the_nb2kg_venv_only_when_chosen(tmp_answers):
    ctx = make_context(tmp_answers(hub={"gateway_client": "nb2kg"}), DryRunRunner(probe_results={}), dry_run=True)
    (venv,) = [a for a in gateway_client.STEP.build(ctx) if isinstance(a, Venv)]
    assert str(venv.path) == str(ctx.layout.nb2kg_venv) == f"{ctx.layout.a.system.prefix}/jeg/nb2kg"
    assert venv.requirements == list(NB2KG_REQUIREMENTS)
    assert {"notebook==5.7.16", "nb2kg==0.7.0", "six", "jupyterhub==3.1.1"} <= set(NB2KG_REQUIREMENTS)
    titles = [a.title for a in gateway_client.STEP.build(ctx)]
    assert any("jupyter_notebook_config.json" in t for t in titles)
    assert any("nb2kg is enabled" in t for t in titles)
    plain = make_context(tmp_answers(), DryRunRunner(probe_results={}), dry_run=True)
    assert not [a for a in gateway_client.STEP.build(plain) if isinstance(a, Venv)]


def _environment(text: str) -> dict:
    """c.Spawner.environment's keys -> the source of each value."""
    tree = ast.parse(text)
    for node in tree.body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "c.Spawner.environment":
            return {k.value: ast.unparse(v) for k, v in zip(node.value.keys, node.value.values, strict=True)}
    raise AssertionError("no c.Spawner.environment")


def _setting(text: str, name: str) -> str:
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f"no {name}")


def test_hub_config_for_nb2kg(tmp_answers):
    L = Layout(tmp_answers(hub={"gateway_client": "nb2kg"}, gateway={"tls": "generate"}))
    L.gateway_token_file.parent.mkdir(parents=True, exist_ok=True)
    L.gateway_token_file.write_text("canary-token-not-in-config\n")
    text = render.render("jupyterhub_config.py.j2", render.context(L))
    assert _setting(text, "c.Spawner.cmd") == [f"{L.nb2kg_venv}/bin/jupyterhub-singleuser"]
    assert _setting(text, "c.Spawner.default_url") == "/tree"
    env = _environment(text)
    assert ast.literal_eval(env["KG_URL"]) == L.gateway_url and L.gateway_url.startswith("https://")
    assert env["KG_AUTH_TOKEN"] == "_gateway_token"  # read from the 0600 file when the hub starts
    assert "canary-token-not-in-config" not in text
    assert ast.literal_eval(env["KG_CLIENT_CA"]) == str(L.gateway_ca_file)
    assert ast.literal_eval(env["VALIDATE_KG_CERT"]) == "yes"
    assert float(ast.literal_eval(env["KG_REQUEST_TIMEOUT"])) > float(ast.literal_eval(env["KERNEL_LAUNCH_TIMEOUT"]))
    assert ast.literal_eval(env["JUPYTERHUB_SINGLEUSER_APP"]) == "notebook.notebookapp.NotebookApp"
    assert "KERNEL_USERNAME" in env
    assert not [k for k in env if k.startswith("JUPYTER_GATEWAY_")]


def test_hub_config_builtin_is_unchanged_by_the_choice(tmp_answers):
    L = Layout(tmp_answers())
    text = render.render("jupyterhub_config.py.j2", render.context(L))
    assert _setting(text, "c.Spawner.cmd") == [f"{L.hub_venv}/bin/jupyterhub-singleuser"]
    assert _setting(text, "c.Spawner.default_url") == "/lab"
    env = _environment(text)
    assert {"JUPYTER_GATEWAY_URL", "JUPYTER_GATEWAY_AUTH_TOKEN", "JUPYTER_CONFIG_PATH"} <= set(env)
    assert not [k for k in env if k.startswith("KG_")]
