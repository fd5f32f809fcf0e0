"""kernels.scala and kernels.r on the real install: a Scala kernel (Apache Toree from PyPI) that needs Spark 3.x
is refused beside Spark 4 before any change, naming both keys; without a spark.version the install moves to
Toree's Spark line and both kernels run cells through the hub and the gateway (Scala: a Spark job), as the
signed-in user with gateway.impersonation. Then the install switches back to the default answers (Spark 4,
Python only) and the two kernelspecs are gone, so later tests see the shared install as it was."""

from __future__ import annotations

import copy
import glob
import os
import re
import time
from pathlib import Path

import pytest
import tomli_w
import tomllib

from jeg_wizard import health
from jeg_wizard.releases import TOREE_SPARK

from .conftest import ADMIN, TIMINGS, wizard

pytestmark = pytest.mark.e2e


def _spark_version(L) -> str:
    jars = glob.glob(f"{L.spark_home}/jars/spark-core_*.jar")
    assert jars, f"no spark-core jar under {L.spark_home}/jars"
    return re.search(r"spark-core_[0-9.]+-([0-9.]+)\.jar", jars[0]).group(1)


def _cell(L, installed, kernel: str, code: str, expect: str) -> health.Smoke:
    return health.login_and_spark_job(
        L.hub_url, ADMIN, installed.password, kernel, code=code, expect=expect, timeout=300, verify=L.hub_verify
    )


def test_scala_and_r_kernels_run_cells_through_the_hub_and_the_gateway(installed, tmp_path):
    L = installed.layout
    data = tomllib.loads(installed.answers_path.read_text())
    spark_before = _spark_version(L)
    kernels_dir = Path(L.a.kernels.dir)

    # Toree is Scala 2.12; Spark 4 is 2.13: refused before any change, naming both keys
    bad = copy.deepcopy(data)
    bad["kernels"] = bad.get("kernels", {}) | {"scala": True}
    bad["spark"] = bad.get("spark", {}) | {"version": "4.3.0"}
    bad_file = tmp_path / "scala-on-spark4.toml"
    bad_file.write_text(tomli_w.dumps(bad))
    config = L.gateway_config.read_bytes()
    t0 = time.monotonic()
    r = wizard("install", "--unattended", str(bad_file), env=installed.env)
    out = r.stdout + r.stderr
    refused_in = time.monotonic() - t0
    assert r.returncode != 0, out[-3000:]
    assert "kernels.scala" in out and "spark.version" in out and "Scala 2.13" in out, out[-3000:]
    assert not (kernels_dir / "spark_scala").exists()
    assert L.gateway_config.read_bytes() == config and _spark_version(L) == spark_before

    # scala and r on, no spark.version: Spark moves to Toree's line; impersonation: kernels run as the user
    on = copy.deepcopy(data)
    on["kernels"] = on.get("kernels", {}) | {"scala": True, "r": True}
    on["gateway"] = {k: v for k, v in on.get("gateway", {}).items() if k != "user"} | {"impersonation": True}
    on_file = tmp_path / "scala-r.toml"
    on_file.write_text(tomli_w.dumps(on))
    try:
        t0 = time.monotonic()
        r = wizard("install", "--unattended", str(on_file), env=installed.env)
        out = r.stdout + r.stderr
        took = time.monotonic() - t0
        assert r.returncode == 0, out[-6000:]
        assert _spark_version(L) == TOREE_SPARK
        # the install's own health check ran a cell in each through the gateway
        assert "the gateway's 'spark_scala' kernel ran spark.range(1000).count() = 1000" in out, out[-4000:]
        assert re.search(r"the gateway's 'r' kernel ran sum\(1:100\) = .*5050", out), out[-4000:]
        assert installed.token not in out

        # through the hub, as a user's Lab does it: a Spark job in Scala, as the signed-in user
        scala = _cell(L, installed, "spark_scala", "spark.range(1000).count()", "1000")
        who = _cell(L, installed, "spark_scala", 'System.getProperty("user.name")', ADMIN)
        rk = _cell(L, installed, "r", 'paste(sum(1:100), Sys.info()[["effective_user"]])', f"5050 {ADMIN}")
        TIMINGS.append(
            f"kernels: switch to scala + r (Spark {TOREE_SPARK}, impersonation) {took:.0f}s; refusal {refused_in:.1f}s; "
            f"Scala through the hub {scala.timings()}; R through the hub {rk.timings()}"
        )
        assert ADMIN in who.result
        # and as a person does it: Chromium signs in, opens a Scala notebook from Lab's launcher, runs the job
        from .browser import run_spark_cell_in_lab

        lab: dict[str, float] = {}
        text = run_spark_cell_in_lab(
            L.hub_url,
            ADMIN,
            installed.password,
            "Spark - Scala (local)",
            timeout=300,
            code="spark.range(1000).count()",
            timings=lab,
            screenshot_path=str(tmp_path / "scala-lab-failure.png"),
        )
        TIMINGS.append(f"kernels: Scala in Lab (Chromium) {lab}")
        assert "1000" in text, text
        # the launcher's copies of the connection file (with the kernel's key) are gone once the kernels listened
        home = Path(os.path.expanduser(f"~{ADMIN}"))
        leftovers = glob.glob("/tmp/jeg-kernel-*") + glob.glob(f"{home}/jeg-kernel-*")
        assert not leftovers, leftovers

        doc = wizard("doctor", "--answers", str(on_file), env=installed.env)
        assert "spark_scala" in doc.stdout and "Toree's jar" in doc.stdout, doc.stdout
        assert "R and IRkernel (no Spark) in place" in doc.stdout, doc.stdout
    finally:
        back = wizard("install", "--unattended", str(installed.answers_path), env=installed.env)
        assert back.returncode == 0, (back.stdout + back.stderr)[-3000:]
    # turned off: their kernelspecs are gone (the gateway would list kernels that cannot start on Spark 4)
    assert not (kernels_dir / "spark_scala").exists() and not (kernels_dir / "r").exists()
    assert _spark_version(L) == spark_before
