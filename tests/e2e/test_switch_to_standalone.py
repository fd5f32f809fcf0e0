"""Reconfigure the real install for a standalone Spark cluster on this host (master + worker started
as services, the standalone kernelspec), prove a Spark job runs on it through the hub, then switch back."""

from __future__ import annotations

import pytest
import tomli_w
import tomllib

from .conftest import free_ports, wizard

pytestmark = pytest.mark.e2e


def test_standalone_cluster_then_back_to_local(installed, tmp_path):
    data = tomllib.loads(installed.answers_path.read_text())
    master_port, master_ui, worker_ui = free_ports(3)
    data["spark"] = {
        **data.get("spark", {}),
        "master": f"spark://127.0.0.1:{master_port}",
        "master_webui_port": master_ui,
        "worker_webui_port": worker_ui,
    }
    data["kernels"] = {
        **data["kernels"],
        "name": "spark_python_standalone",
        "display_name": "Spark - Python (standalone)",
    }
    standalone = tmp_path / "standalone.toml"
    standalone.write_text(tomli_w.dumps(data))
    r = wizard("install", "--unattended", str(standalone), env=installed.env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-5000:]
    assert "spark-master answers at" in out and "spark-worker answers at" in out
    assert "ran spark.range(1000).count() = 1000 via the gateway" in out
    doc = wizard("doctor", "--answers", str(standalone))
    assert f"[✓] spark: master: spark://127.0.0.1:{master_port}: 1 worker(s)" in doc.stdout, doc.stdout
    # the master and worker are services of ours like the others: on their ports, on the address asked
    assert "[✓] services: spark-master: running, pid" in doc.stdout and f"port {master_port}" in doc.stdout, doc.stdout
    assert "[✓] services: spark-worker: running, pid" in doc.stdout and f"port {worker_ui}" in doc.stdout, doc.stdout
    back = wizard("install", "--unattended", str(installed.answers_path), env=installed.env)
    assert back.returncode == 0, (back.stdout + back.stderr)[-3000:]
