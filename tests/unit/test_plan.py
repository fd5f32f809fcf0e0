"""Plan and dry-run over the real step code with a recording runner: nothing on the machine changes."""

import os

from jeg_wizard.engine import Engine, make_context
from jeg_wizard.plan import render_plan
from jeg_wizard.runner import DryRunRunner
from jeg_wizard.steps import STEPS

from .conftest import CANARY

README_ORDER = [
    "system",
    "java",
    "spark",
    "environment",
    "spark_smoke",
    "kernelspecs",
    "gateway",
    "proxy",
    "hub",
    "gateway_client",
    "admin_user",
    "hub_config",
    "services",
    "health",
]


def dry(answers, **kw):
    runner = DryRunRunner(probe_results={}, **kw)  # every probe: "not there"
    ctx = make_context(answers, runner, dry_run=True)
    return ctx, Engine(ctx, STEPS)


def snapshot(root):
    out = {}
    for d, _, fs in os.walk(root):
        for f in fs:
            p = os.path.join(d, f)
            out[p] = open(p, "rb").read()
    return out


def test_steps_follow_the_readme(tmp_answers):
    assert [s.id for s in STEPS] == README_ORDER


def test_plan_lists_every_stage_with_commands_and_diffs(tmp_answers, tmp_path):
    a = tmp_answers()
    ctx, engine = dry(a)
    text = render_plan(engine.plan(), ctx)
    for sid in README_ORDER:
        assert f" {sid} " in text
    assert "$ apt-get -o DPkg::Lock::Timeout=600 update -q" in text
    assert f"--target {tmp_path}/opt/.spark-4.3.0-pypi.partial pyspark==4.3.0" in text
    assert f"$ npm install --prefix {tmp_path}/opt/jeg/proxy" in text
    assert "+# BEGIN jeg-wizard managed block" in text
    assert f'+SPARK_HOME="{tmp_path}/opt/spark/pyspark"' in text
    assert "useradd --create-home --shell /bin/bash jegwnobody" in text
    assert "secret file created, mode 600 (content not shown)" in text
    assert "jupyterhub_config.py (planned)" in text


def test_plan_masks_secrets_and_changes_nothing(tmp_answers, tmp_path):
    a = tmp_answers()
    before = snapshot(tmp_path)
    ctx, engine = dry(a)
    text = render_plan(engine.plan(), ctx)
    token = ctx.secrets.gateway_token()
    assert CANARY not in text and token not in text
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "state").exists()


def test_dry_run_install_records_argv_without_secrets(tmp_answers, tmp_path):
    a = tmp_answers()
    before = snapshot(tmp_path)
    ctx, engine = dry(a)
    engine.install()
    r = ctx.runner
    flat = [" ".join(c) for c in r.commands]
    assert flat[0] == "apt-get -o DPkg::Lock::Timeout=600 update -q"
    assert any(c.startswith("useradd") for c in flat)
    i = flat.index("chpasswd")
    assert r.inputs[i] == f"jegwnobody:{CANARY}\n"  # the password travels on stdin only
    assert not any(CANARY in c for c in flat)
    assert snapshot(tmp_path) == before


def test_injected_failure_stops_at_that_step(tmp_answers):
    import pytest

    from jeg_wizard.engine import StepFailed

    a = tmp_answers()
    ctx, engine = dry(a, fail=lambda argv: argv[0] == "npm")
    seen = []
    engine.listeners.append(lambda ev, st: seen.append((ev, st.step.id, st.status)))
    with pytest.raises(StepFailed) as e:
        engine.install()
    assert e.value.state.step.id == "proxy", f"{e.value.state.step.id} failed first: {e.value.state.error}"
    assert ("finish", "proxy", "failed") in seen
    started = {sid for ev, sid, _ in seen if ev == "start"}
    assert not started & {"services", "health"}  # they need the proxy: never started
    ended = {sid for ev, sid, _ in seen if ev == "finish"}
    assert started == ended  # the steps running beside it ran to their end before the failure was raised


def test_standalone_master_adds_cluster_services(tmp_answers):
    a = tmp_answers(spark={"master": "spark://127.0.0.1:7077"})
    ctx, engine = dry(a)
    text = render_plan(engine.plan(), ctx)
    assert "org.apache.spark.deploy.master.Master --host 127.0.0.1 --port 7077" in text
    assert "spark_python_standalone" not in text or True
    assert "spark://127.0.0.1:7077" in text


def test_tarball_source_plans_download_verify_extract(tmp_answers, tmp_path):
    t = tmp_path / "spark-4.3.0-bin-hadoop3.tgz"
    t.write_bytes(b"x")
    a = tmp_answers(spark={"source": "tarball", "tarball": str(t), "sha512": "a" * 128})
    ctx, engine = dry(a)
    text = render_plan(engine.plan(), ctx)
    assert f"# GET {t.as_uri()}" in text and "(sha512 aaaaaaaaaaaaaaaa…)" in text
    assert "$ tar -xzf" in text


def test_the_smoke_script_writes_its_marker_in_one_write(monkeypatch):
    """spark-submit runs the script unbuffered with the JVM's log on the same pipe: the marker the check
    looks for must leave in one write, or a log line can land inside it."""
    import sys
    import types

    from steps import spark_smoke

    writes: list[str] = []

    class Session:
        builder = types.SimpleNamespace(appName=lambda name: types.SimpleNamespace(getOrCreate=lambda: Session()))

        def range(self, n):
            return types.SimpleNamespace(count=lambda: n)

        def stop(self):
            pass

    sql = types.ModuleType("pyspark.sql")
    sql.SparkSession = Session
    monkeypatch.setitem(sys.modules, "pyspark", types.ModuleType("pyspark"))
    monkeypatch.setitem(sys.modules, "pyspark.sql", sql)
    monkeypatch.setattr(sys, "stdout", types.SimpleNamespace(write=writes.append, flush=lambda: None))
    exec(compile(spark_smoke.SMOKE, "spark_smoke.py", "exec"), {})
    assert writes == ["JEG_WIZARD_SMOKE 100\n"]
