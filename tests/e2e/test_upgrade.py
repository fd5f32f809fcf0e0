"""Issue 14 item 3: `jeg-wizard upgrade` on the shared install, scoped to the hub environment (the only one
whose pins differ between the release sets). The install is first taken to the previous release set (hub and
lab one minor back: `upgrade --to 2026.09`, built beside and switched in), then upgraded to the current one:
the users' rows and a user's file are intact, the configs byte for byte, and the end-to-end check (login ->
spawn -> Spark job through the gateway) passed after each switch. Then a failure injected after the new hub
started (JEG_WIZARD_TEST_FAIL_AT) is rolled back: the stable path points where it did, the configs and the
hub database byte-identical (sha256, compared by the wizard before the services restart), healthy again in
<= 60 s. The install is left on the current release set."""

from __future__ import annotations

import os
import re
import sqlite3
import time
from pathlib import Path

import pytest

from jeg_wizard import releases, upgrade

from .conftest import ADMIN, TIMINGS, wizard
from .test_faults import healthy_again

pytestmark = pytest.mark.e2e


def upgrade_(installed, *args: str, env: dict | None = None):
    t0 = time.monotonic()
    r = wizard(
        "upgrade", *args, "--answers", str(installed.answers_path), env={**installed.env, **(env or {})}, timeout=1200
    )
    return r, r.stdout + r.stderr, time.monotonic() - t0


def hub_versions(installed) -> dict[str, str]:
    return upgrade.venv_versions(installed.layout.hub_venv, ["jupyterhub", "jupyterlab", "notebook"])


def users(installed) -> list[tuple]:
    db = installed.layout.hub_state_dir / "jupyterhub.sqlite"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT id, name, admin, cookie_id, created FROM users ORDER BY id").fetchall()
    finally:
        con.close()


def configs(installed) -> dict[str, bytes]:
    L = installed.layout
    paths = [*L.config_dir.rglob("*"), *L.kernels_root.rglob("*"), L.hub_env_file, L.lab_overrides, L.saved_answers]
    return {str(p): Path(p).read_bytes() for p in paths if Path(p).is_file()}


def test_upgrade_from_the_previous_release_to_current(installed):
    L = installed.layout
    healthy_again(installed)
    home = Path(os.path.expanduser(f"~{ADMIN}"))
    data = home / "upgrade-canary.txt"
    data.write_text("kept across upgrades\n")
    before_users, before_configs = users(installed), configs(installed)
    assert hub_versions(installed)["jupyterhub"].startswith("6.1.")

    dry, out, _ = upgrade_(installed, "--to", releases.PREVIOUS.name, "--dry-run")
    assert dry.returncode == 0, out[-3000:]
    assert f"from {releases.CURRENT.name} to {releases.PREVIOUS.name}" in out and "Nothing was changed" in out
    assert not L.hub_venv.is_symlink()  # the dry run left the install's directory alone

    # an install pinned to the previous release set (the hub env built beside, switched in, e2e run)
    r, out, took = upgrade_(installed, "--to", releases.PREVIOUS.name, "--quick")  # the e2e check: on the way up
    TIMINGS.append(f"upgrade --to {releases.PREVIOUS.name} --quick (hub venv built beside, switched): {took:.0f}s")
    assert r.returncode == 0, out[-5000:]
    assert L.hub_venv.is_symlink()
    old = hub_versions(installed)
    assert old["jupyterhub"].startswith("6.0.") and old["jupyterlab"].startswith("4.5."), old

    # ... upgraded to current: the deltas shown, the e2e check passed, users and data intact
    r, out, took = upgrade_(installed)
    TIMINGS.append(
        f"upgrade {releases.PREVIOUS.name} -> {releases.CURRENT.name} (env reused, switched, e2e): {took:.0f}s"
    )
    assert r.returncode == 0, out[-5000:]
    assert f"upgrade: from {releases.PREVIOUS.name} to {releases.CURRENT.name}" in out, out[-5000:]
    assert f"jupyterhub {old['jupyterhub']}" in out and "target:     jupyterhub==6.1.*" in out, out[-5000:]
    assert "ran spark.range(1000).count() = 1000 via the gateway" in out, out[-5000:]
    phases = {
        "backup": r"backup: \S+ \(\d+ members\) in ([0-9.]+)s",
        "stop, switch, start": r"down, switched and up again in ([0-9.]+)s",
        "health with the Spark job": r"health checks \(login -> spawn -> Spark job included\): ([0-9.]+)s",
    }
    said = {k: re.search(rx, out) for k, rx in phases.items()}
    assert all(said.values()), out[-5000:]
    TIMINGS.append("  of which " + ", ".join(f"{k} {m[1]}s" for k, m in said.items()))
    assert "backup: " in out and "before-upgrade.tar.gz" in out
    new = hub_versions(installed)
    assert new["jupyterhub"].startswith("6.1.") and new["jupyterlab"].startswith("4.6."), new
    assert users(installed) == before_users
    assert data.read_text() == "kept across upgrades\n"
    after = configs(installed)
    assert [p for p in before_configs if before_configs[p] != after.get(p)] == []

    again, out, _ = upgrade_(installed)
    assert again.returncode == 0 and "nothing to do" in out, out[-3000:]
    healthy_again(installed)


def test_injected_failure_mid_upgrade_rolls_back_byte_identically(installed):
    L = installed.layout
    healthy_again(installed)
    link = os.readlink(L.hub_venv) if L.hub_venv.is_symlink() else None
    before_users, before_configs = users(installed), configs(installed)
    have = hub_versions(installed)

    bad, out, _ = upgrade_(installed, "--to", "1999.01")
    assert bad.returncode == 2 and "--to: no release set '1999.01'" in out and "nothing was changed" in out, out

    r, out, took = upgrade_(
        installed, "--to", releases.PREVIOUS.name, env={"JEG_WIZARD_TEST_FAIL_AT": "upgrade started"}
    )
    assert r.returncode == 1, out[-5000:]
    assert "upgrade FAILED; everything is as it was" in out, out[-5000:]
    assert "injected failure (upgrade started" in out
    m = re.search(r"byte-identical to before the upgrade \(sha256\): (\d+) of (\d+) files", out)
    assert m and m[1] == m[2] and int(m[1]) >= 5, out[-5000:]
    m = re.search(r"rolled back in ([0-9.]+)s \(([^)]*)\); healthy again", out)
    assert m, out[-5000:]
    TIMINGS.append(f"upgrade with a failure injected after the new hub started: rolled back in {m[1]}s ({m[2]})")
    assert float(m[1]) <= 60
    assert (os.readlink(L.hub_venv) if L.hub_venv.is_symlink() else None) == link
    assert hub_versions(installed) == have
    assert users(installed) == before_users
    after = configs(installed)
    assert [p for p in before_configs if before_configs[p] != after.get(p)] == []
    healthy_again(installed)
