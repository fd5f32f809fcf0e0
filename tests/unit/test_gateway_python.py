"""The gateway venv's recipe (one for Python 3.10-3.13) and the refusal of a Python it was not proven on.
Fast, no network: a dry-run runner and fake interpreters."""

import sys
from types import SimpleNamespace

from jeg_wizard import preflight
from jeg_wizard.actions import Venv
from jeg_wizard.engine import Engine, make_context
from jeg_wizard.plan import render_plan
from jeg_wizard.runner import DryRunRunner, Result
from jeg_wizard.steps import STEPS, gateway

JEG = "jupyter_enterprise_gateway==3.3.0"


def gateway_venv(ctx) -> Venv:
    (venv,) = [a for a in gateway.STEP.build(ctx) if isinstance(a, Venv)]
    return venv


def fake_python(tmp_path, version: str, rc: int = 0):
    py = tmp_path / f"python{version}"
    py.write_text(f"#!/bin/sh\necho {version}\nexit {rc}\n")
    py.chmod(0o755)
    return str(py)


def test_recipe_relaxes_pyzmq_keeps_jupyter_server_1_and_installs_jeg_without_its_pins():
    deps = gateway.GATEWAY_DEPENDENCIES
    assert gateway.GATEWAY_REQUIREMENTS == [JEG]
    assert "jupyter_server>=1.7,<2" in deps  # the kernel-websocket fix and the config are for jupyter_server 1.x
    assert "jupyter_client>=6.1.12,<7" in deps
    assert "pyzmq>=25,<28" in deps  # JEG's own pyzmq<25 has no wheel for 3.12+ and does not build
    assert "setuptools" in deps  # distutils for JEG on 3.12+
    names = {d.split(">")[0].split("<")[0].split("=")[0] for d in deps}
    assert not names & {"jupyter_enterprise_gateway", "docker", "kubernetes", "yarn-api-client", "future"}


def test_gateway_venv_installs_dependencies_then_jeg_with_no_deps(tmp_answers):
    ctx = make_context(tmp_answers(), DryRunRunner(probe_results={}), dry_run=True)
    venv = gateway_venv(ctx)
    make, deps, jeg = venv.commands(ctx)
    assert make == [ctx.answers.system.python, "-m", "venv", str(ctx.layout.gateway_venv)]
    into = ["--python", str(ctx.layout.gateway_venv / "bin" / "python")]
    assert (
        deps[1:3] == ["pip", "install"] and deps[-len(gateway.GATEWAY_DEPENDENCIES) :] == gateway.GATEWAY_DEPENDENCIES
    )
    assert "--no-deps" not in deps and deps[3:5] == into
    assert jeg[3:5] == into and jeg[-2:] == ["--no-deps", JEG]


def test_plan_shows_the_no_deps_install(tmp_answers):
    ctx = make_context(tmp_answers(), DryRunRunner(probe_results={}), dry_run=True)
    text = render_plan(Engine(ctx, STEPS).plan(), ctx)
    assert f"--no-deps {JEG}" in text
    assert "pyzmq>=25,<28" in text


class Ctx:
    def __init__(self, rc=0):
        self.runner = DryRunRunner(probe_results=None)
        self.runner.probe = lambda argv, **kw: Result(rc, [])


def test_a_venv_built_by_the_old_recipe_is_rebuilt(tmp_path):
    venv = Venv(tmp_path / "gw", "/usr/bin/python3", gateway.GATEWAY_DEPENDENCIES, no_deps=gateway.GATEWAY_REQUIREMENTS)
    (venv.path / "bin").mkdir(parents=True)
    (venv.path / "bin" / "python").write_text("")
    venv.marker.write_text(f"{JEG}\n")  # what the previous release wrote: JEG with its own pins
    assert not venv.done(Ctx())
    venv.marker.write_text(venv._wanted())
    assert venv.done(Ctx())
    assert f"--no-deps {JEG}" in venv.marker.read_text()
    # any change to the recipe, including what is installed --no-deps, rebuilds
    other = Venv(
        venv.path, "/usr/bin/python3", gateway.GATEWAY_DEPENDENCIES, no_deps=["jupyter_enterprise_gateway==3.3.1"]
    )
    assert not other.done(Ctx())


def test_venvs_without_no_deps_keep_their_commands_and_marker(tmp_path):
    v = Venv(tmp_path / "hub", "/usr/bin/python3", ["jupyterhub==6.1.*", "jupyterlab"])
    assert v._wanted() == "jupyterhub==6.1.*\njupyterlab\n"  # installs made before this change are not rebuilt
    ctx = SimpleNamespace(bundle=None)
    assert len(v.commands(ctx)) == 2 and "--no-deps" not in v.commands(ctx)[1]


def test_the_python_running_the_tests_is_supported_here():
    lo, hi = preflight.GATEWAY_PYTHONS
    assert lo <= sys.version_info[:2] <= hi


def test_supported_pythons_pass(tmp_answers, tmp_path):
    for version in ("3.10.12", "3.11.2", "3.12.3", "3.13.5"):
        a = tmp_answers(system={"python": fake_python(tmp_path, version)}, spark={"version": "4.2.1"})
        assert preflight.python_problems(a) == [], version


def test_python_outside_the_proven_range_is_refused_before_any_change(tmp_answers, tmp_path):
    for version in ("3.9.2", "3.14.0"):
        py = fake_python(tmp_path, version)
        a = tmp_answers(system={"python": py})
        (msg,) = preflight.python_problems(a)
        assert msg.startswith(f"system.python: {py} is Python {version};")
        assert "supported on Python 3.10 to 3.13" in msg
        assert msg in preflight.problems(a, need_root=False)  # the gate `install` runs before anything changes


def test_missing_or_broken_python_is_named(tmp_answers, tmp_path):
    a = tmp_answers(system={"python": str(tmp_path / "no-such-python")})
    assert preflight.python_problems(a) == []  # named once, by the machine checks
    (msg,) = [p for p in preflight.problems(a, need_root=False) if p.startswith("system.python")]
    assert "no-such-python no such file" in msg
    a = tmp_answers(system={"python": fake_python(tmp_path, "garbage", rc=1)})
    (msg,) = preflight.python_problems(a)
    assert "did not report its version (exit 1)" in msg and "3.10 to 3.13" in msg
