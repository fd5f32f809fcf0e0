"""hub.gateway_client = "nb2kg" on the real install (the README's client): the hub spawns the classic notebook
5.7 with nb2kg from its own venv, a browser opens /user/<admin>/tree, starts a notebook on the Spark kernel
from the New menu and runs a Spark job through the gateway; then the install switches back to the default
(builtin) so later tests see it. On the way, the same over gateway TLS (a private CA, no client certificate)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import tomli_w
import tomllib

from .conftest import ADMIN, TIMINGS, cmdlines, user_servers, wizard

pytestmark = pytest.mark.e2e


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(kv.decode(errors="replace").split("=", 1) for kv in raw if b"=" in kv)


def test_classic_notebook_with_nb2kg_runs_spark_through_the_gateway(installed, tmp_path):
    from .browser import run_spark_cell_in_classic

    L = installed.layout
    data = tomllib.loads(installed.answers_path.read_text())
    data["hub"] = data["hub"] | {"gateway_client": "nb2kg"}
    answers = tmp_path / "nb2kg.toml"
    answers.write_text(tomli_w.dumps(data))
    nb2kg_singleuser = f"{L.a.system.prefix}/jeg/nb2kg/bin/jupyterhub-singleuser"
    try:
        t0 = time.monotonic()
        r = wizard("install", "--unattended", str(answers), env=installed.env)
        out = r.stdout + r.stderr
        took = time.monotonic() - t0
        print(f"switch to nb2kg: {took:.0f}s")
        assert r.returncode == 0, out[-5000:]
        # the install's own health check went login -> /tree -> kernel through nb2kg -> Spark job
        assert f"{ADMIN} logged in and ran spark.range(1000).count() = 1000 via the gateway" in out, out[-3000:]
        assert installed.token not in out
        hub_config = L.hub_config.read_text()
        assert nb2kg_singleuser in hub_config and '"KG_URL"' in hub_config
        assert installed.token not in hub_config  # read from the 0600 file when the hub starts

        timings: dict[str, float] = {}
        text = run_spark_cell_in_classic(
            L.hub_url,
            ADMIN,
            installed.password,
            L.a.kernels.display_name,
            timeout=300,
            timings=timings,
            screenshot_path=str(tmp_path / "classic-failure.png"),
        )
        print(f"classic notebook run: {timings}")
        TIMINGS.append(
            f"nb2kg: switch {took:.0f}s; classic notebook kernel start (New -> ready) {timings.get('kernel_idle')}s, "
            f"spawn + tree {timings.get('spawn_and_tree_loaded')}s, spark.range(1000).count() "
            f"{timings.get('cell_output')}s"
        )
        assert text == "1000", text

        # the admin's server is the classic one from the nb2kg venv, with the token in its environment only
        servers = user_servers(ADMIN)
        assert servers
        for pid in servers:
            cmd = cmdlines()[pid]
            assert nb2kg_singleuser.encode() in cmd, cmd
            assert installed.token.encode() not in cmd
            env = _environ(pid)
            assert env["KG_URL"] == L.gateway_url and env["KG_AUTH_TOKEN"] == installed.token
            assert "JUPYTER_GATEWAY_URL" not in env

        doc = wizard("doctor", "--answers", str(answers))
        assert "nb2kg gateway client" in doc.stdout, doc.stdout

        # gateway.tls = "generate": nb2kg verifies the gateway against the private CA without a client
        # certificate (the venv's jupyter_notebook_config.py passes KG_CLIENT_CA on, to the kernel websocket
        # too); the install's health check proves the path: login -> the classic server -> HTTPS -> Spark job
        data["gateway"] = data["gateway"] | {"tls": "generate"}
        tls = tmp_path / "nb2kg-tls.toml"
        tls.write_text(tomli_w.dumps(data))
        t0 = time.monotonic()
        r = wizard("install", "--unattended", str(tls), env=installed.env)
        out = r.stdout + r.stderr
        TIMINGS.append(f"nb2kg: switch to gateway TLS (gateway and hub restart, health) {time.monotonic() - t0:.0f}s")
        assert r.returncode == 0, out[-5000:]
        assert f"{ADMIN} logged in and ran spark.range(1000).count() = 1000 via the gateway" in out, out[-3000:]
        servers = user_servers(ADMIN)  # the health check's spawn
        assert servers
        for pid in servers:
            env = _environ(pid)
            assert env["KG_URL"].startswith("https://") and env["VALIDATE_KG_CERT"] == "yes"
            assert Path(env["KG_CLIENT_CA"]).is_file() and "KG_CLIENT_CERT" not in env
    finally:
        back = wizard("install", "--unattended", str(installed.answers_path), env=installed.env)
        assert back.returncode == 0, (back.stdout + back.stderr)[-3000:]
    assert nb2kg_singleuser not in L.hub_config.read_text()
    assert '"KG_CLIENT_CA"' not in L.hub_config.read_text() and '"KG_URL"' not in L.hub_config.read_text()
    assert all(nb2kg_singleuser.encode() not in cmdlines().get(pid, b"") for pid in user_servers(ADMIN))
