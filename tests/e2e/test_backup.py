"""Issue 14 item 2: a backup of the running shared install (a hub user with a password, a notebook and an API
token), refused when damaged, restored into a fresh prefix as onto a new machine (the user's account and
home gone first): the user logs in with the same password, the token works, the notebook is back, a Spark
cell runs in Lab in Chromium through the restored gateway; secrets, roster, database rows and configs equal
the originals."""

from __future__ import annotations

import crypt  # deprecated, still in 3.11 and 3.12: makes the hash the CSV carries
import json
import os
import pwd
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import tomli_w

from jeg_wizard import backup
from jeg_wizard.actions.users import end_processes_of
from jeg_wizard.answers import load
from jeg_wizard.layout import Layout
from jeg_wizard.services import ProcessManager

from .conftest import _SUFFIX, FOREIGN_ENV, TIMINGS, _processes_under, make_answers, wizard

pytestmark = pytest.mark.e2e

STUDENT = f"jegwr{_SUFFIX}"
PASSWORD = "Restored-" + _SUFFIX * 3
PASSPHRASE = "backup-pass-" + _SUFFIX * 4
NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5, "note": "restored " + _SUFFIX}


def _login(c: httpx.Client, hub_url: str, user: str, password: str) -> bool:
    c.get(f"{hub_url}/hub/login")
    r = c.post(
        f"{hub_url}/hub/login?next=",
        data={"username": user, "password": password, "_xsrf": c.cookies.get("_xsrf") or ""},
        follow_redirects=False,
    )
    return r.status_code in (302, 303) and "/hub/login" not in r.headers.get("location", "")


# what makes a row the same user, token, role or group; other columns are printed when they differ
SAME = {
    "users": ("id", "name", "admin", "cookie_id", "created"),
    "api_tokens": (
        "id",
        "hashed",
        "prefix",
        "user_id",
        "service_id",
        "oauth_client_id",
        "client_id",
        "note",
        "created",
    ),
    "roles": ("id", "name", "scopes"),
    "user_role_map": ("user_id", "role_id"),
    "groups": ("id", "name"),
    "user_group_map": ("user_id", "group_id"),
}


def _rows(db: Path) -> dict[str, list[dict]]:
    """The tables a restore promises unchanged (users, tokens, roles, groups), every column; the spawners'
    server state is the old machine's and is cleared on purpose, so spawners and servers are not here."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    try:
        return {t: sorted((dict(r) for r in con.execute(f"SELECT * FROM {t}")), key=repr) for t in SAME}
    finally:
        con.close()


def _server_token(row: dict) -> bool:
    """A user server's own token or an OAuth token issued to one: the server's, not the user's."""
    client = row.get("oauth_client_id") or row.get("client_id") or ""  # the column's name varies by release
    return (row.get("note") or "").startswith("Server at") or client.startswith("jupyterhub-user-")


def _differences(restored: dict, archived: dict) -> tuple[list[str], list[str]]:
    """(identity columns that differ, other columns that differ), as table.column lists."""
    same, other = set(), set()
    for t, cols in SAME.items():
        a, b = restored[t], archived[t]
        if t == "api_tokens":  # the tokens of user servers the restore forgot may be revoked by the hub
            gone = [r for r in b if r["id"] not in {x["id"] for x in a}]
            shown = [{k: v for k, v in r.items() if k != "hashed"} for r in gone]
            print(f"database: tokens the restored hub revoked at its start: {shown}")
            b = [r for r in b if r not in gone or not _server_token(r)]
        if len(a) != len(b):
            same.add(f"{t}: {len(a)} rows restored, {len(b)} archived")
            continue
        for ra, rb in zip(a, b, strict=True):
            for col in set(ra) | set(rb):
                if ra.get(col) != rb.get(col) and col != "last_activity":
                    (same if col in cols else other).add(f"{t}.{col}")
    return sorted(same), sorted(other)


def _normal(text: str, L: Layout, roots: list[Path]) -> str:
    """A config with the installs' roots and this one's ports named, to compare two installs in two prefixes."""
    a = L.a
    for root in roots:
        text = text.replace(str(root), "ROOT")
    for what, port in (
        ("GW", a.gateway.port),
        ("HUB", a.hub.port),
        ("HUBINT", a.hub.hub_port),
        ("API", a.proxy.api_port),
    ):
        text = text.replace(str(port), f"PORT_{what}")
    return text


# the software of the shared install (venvs, the proxy): what a restore restores is data, and building
# these again is what every install does (the shared one did); the restore's own venvs took 132 s of its 249 s
def _shared_software(L: Layout) -> dict:
    return {
        "hub": {"venv": str(L.hub_venv)},
        "gateway": {"venv": str(L.gateway_venv)},
        "kernels": {"venv": str(L.kernel_venv)},
        "proxy": {"prefix": str(L.proxy_prefix)},
    }


def test_backup_then_restore_into_a_fresh_prefix(installed, tmp_path):
    assert installed.first.returncode == 0, (installed.first.stdout + installed.first.stderr)[-4000:]
    L = installed.layout
    env = {"JEGW_BACKUP_PASS": PASSPHRASE}
    root2 = Path(tempfile.mkdtemp(prefix="jegw-e2e-restore-", dir="/tmp"))
    os.chmod(root2, 0o755)
    answers2 = root2 / "answers.toml"
    try:
        # a hub user with a password (from a hash), a notebook in the home, an API token
        pw_hash = crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_SHA512))
        csv = tmp_path / "users.csv"
        csv.write_text(f"{STUDENT},no,{pw_hash}\n")
        r = wizard("users", "add", "--csv", str(csv), "--answers", str(installed.answers_path), timeout=300)
        assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
        home = Path(pwd.getpwnam(STUDENT).pw_dir)
        nb = home / "work" / "analysis.ipynb"
        nb.parent.mkdir()
        nb.write_text(json.dumps(NOTEBOOK))
        for p in (nb.parent, nb):
            os.chown(p, pwd.getpwnam(STUDENT).pw_uid, pwd.getpwnam(STUDENT).pw_gid)
        with httpx.Client(timeout=30) as c:
            assert _login(c, L.hub_url, STUDENT, PASSWORD)
            r = c.post(
                f"{L.hub_url}/hub/api/users/{STUDENT}/tokens",
                json={"note": "restore test"},
                headers={"X-XSRFToken": c.cookies.get("_xsrf", path="/hub/") or "", "Referer": f"{L.hub_url}/hub/"},
            )
            assert r.status_code in (200, 201), r.text[:300]
            api_token = r.json()["token"]

        archive = tmp_path / "site.tgz.enc"
        t0 = time.monotonic()
        b = wizard(
            "backup", "-o", str(archive), "--homes", "--passphrase-env", "JEGW_BACKUP_PASS",
            "--answers", str(installed.answers_path), env=env, timeout=300,
        )  # fmt: skip
        took = time.monotonic() - t0
        out = b.stdout + b.stderr
        assert b.returncode == 0, out[-3000:]
        assert stat.S_IMODE(archive.stat().st_mode) == 0o600
        secrets = [p.read_text().strip() for _, _, p, _ in L.secret_files] + [api_token, pw_hash, PASSPHRASE]
        assert not [s for s in secrets if s in out], "a secret is in the backup's output"
        assert f"accounts: {L.a.users.admin}, {STUDENT}" in out, out
        TIMINGS.append(f"backup (encrypted, --homes): {archive.stat().st_size / 1024:.0f} KiB in {took:.1f}s")
        print(out)

        # the fresh "machine": a new prefix, the student's account and home gone
        (root2 / "etc").mkdir()
        (root2 / "etc" / "environment").write_bytes(FOREIGN_ENV)
        answers2.write_text(tomli_w.dumps(make_answers(root2, **_shared_software(L))))

        damaged = tmp_path / "damaged.enc"
        raw = bytearray(archive.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        damaged.write_bytes(bytes(raw))
        r = wizard("restore", str(damaged), "--answers", str(answers2), "--passphrase-env", "JEGW_BACKUP_PASS", env=env)
        assert r.returncode == 2 and "the archive was changed" in r.stderr and "nothing was changed" in r.stderr, (
            r.stdout + r.stderr
        )
        assert not (root2 / "state").exists() and not (root2 / "opt").exists()

        subprocess.run(["userdel", "-r", STUDENT], check=True, capture_output=True)
        t0 = time.monotonic()
        r = wizard(
            "restore", str(archive), "--answers", str(answers2), "--passphrase-env", "JEGW_BACKUP_PASS",
            env=env, timeout=1200,
        )  # fmt: skip
        took = time.monotonic() - t0
        out = r.stdout + r.stderr
        print(out[-6000:])
        assert r.returncode == 0, out[-5000:]
        assert not [s for s in secrets if s in out], "a secret is in the restore's output"
        TIMINGS.append(f"restore into a fresh prefix (install included): {took:.0f}s")

        # secrets, roster and configs as the originals (configs: the other root and ports named alike)
        L2 = Layout(load(answers2))
        for (_, what, p1, _), (_, _, p2, _) in zip(L.secret_files, L2.secret_files, strict=True):
            assert p2.read_bytes() == p1.read_bytes(), what
            assert stat.S_IMODE(p2.stat().st_mode) == 0o600, what
        assert L2.hub_users_file.read_bytes() == L.hub_users_file.read_bytes()
        configs = [
            L.hub_config,
            L.gateway_config,
            L.config_dir / "jupyter_server_config.py",
            L.kernel_dir / "kernel.json",
        ]
        for c1 in configs:
            c2 = Path(str(c1).replace(str(installed.root), str(root2)))
            roots = [installed.root, root2]
            assert _normal(c2.read_text(), L2, roots) == _normal(c1.read_text(), L, roots), c1.name

        # the database rows as archived (the archive's copy, read back with the same passphrase)
        opened = backup.open_archive(archive, PASSPHRASE)
        try:
            archived = tmp_path / "archived.sqlite"
            archived.write_bytes(opened.read("hub/jupyterhub.sqlite"))
        finally:
            opened.close()
        same, other = _differences(_rows(L2.hub_state_dir / "jupyterhub.sqlite"), _rows(archived))
        print(f"database: columns the restored hub changed at its start: {other or 'none'}")
        assert same == [], same
        assert STUDENT in {row["name"] for row in _rows(archived)["users"]}

        # the user as before: the notebook back in a new home, the token and password work, a Spark job runs
        new_home = Path(pwd.getpwnam(STUDENT).pw_dir)
        assert json.loads((new_home / "work" / "analysis.ipynb").read_text()) == NOTEBOOK
        assert (new_home / "work" / "analysis.ipynb").stat().st_uid == pwd.getpwnam(STUDENT).pw_uid
        r = httpx.get(f"{L2.hub_url}/hub/api/user", headers={"Authorization": f"token {api_token}"}, timeout=30)
        assert r.status_code == 200 and r.json()["name"] == STUDENT, r.text[:300]
        with httpx.Client(timeout=30) as c:
            assert not _login(c, L2.hub_url, STUDENT, "wrong-password")
        # in a real browser, as the user would: Lab, a notebook on the gateway's kernel, a Spark cell
        from .browser import run_spark_cell_in_lab

        t0 = time.monotonic()
        out = run_spark_cell_in_lab(L2.hub_url, STUDENT, PASSWORD, L2.a.kernels.display_name, timeout=300)
        assert out.strip() == "1000", out
        TIMINGS.append(f"restored user's browser login -> Spark cell in Lab: {time.monotonic() - t0:.0f}s")
    finally:
        # not `services stop`: its hub's user servers are found by program, and the program is the shared
        # install's (its admin's server would go too); the student's server goes with the account
        services = ProcessManager(root2 / "state" / "services")
        for name in services.names():
            services.stop(name, children=False)
        try:
            end_processes_of(STUDENT, grace=5)
        except KeyError:
            pass
        subprocess.run(["userdel", "-r", STUDENT], capture_output=True)
        for pid in _processes_under(root2):
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        shutil.rmtree(root2, ignore_errors=True)
        # the shared install as the next tests expect it: the student off its allow list
        wizard("users", "remove", STUDENT, "--answers", str(installed.answers_path), timeout=300)
