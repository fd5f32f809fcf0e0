"""Install -> uninstall -> install again, on a temp root with a foreign environment file and a
foreign hub config: uninstall stops what runs, puts back every byte that was there, and leaves
no file, user or process of ours behind; the second install works like the first."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import pytest

from jeg_wizard.actions import UserAccount

from .conftest import wizard
from .test_resume import (  # noqa: F401
    ADMIN,
    FOREIGN_ENV,
    FOREIGN_HUB_CONFIG,
    GW_USER,
    PW_ENV,
    _pip_running,
    install,
    install_until_killed,
    new_root,
    processes_under,
    remove_users,
    shared,
    stop,
)

pytestmark = pytest.mark.e2e


def snapshot(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = [d for d in dirnames if os.path.normpath(os.path.join(rel_dir, d)) not in skip]
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel in skip:
                continue
            st = p.lstat()
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_dir():
                out[rel] = f"dir:{st.st_mode & 0o7777:o}"
            else:
                out[rel] = f"{st.st_mode & 0o7777:o}:{st.st_uid}:{hashlib.sha256(p.read_bytes()).hexdigest()}"
    return out


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def uninstall(root: Path, *flags: str):
    r = wizard("uninstall", "--state-dir", str(root / "state"), *flags, timeout=300)
    print(r.stdout[-3000:], r.stderr[-2000:])
    return r


def test_install_uninstall_install_again(shared):
    root = new_root(shared, "uninstall", own_kernel_venv=True)
    user = UserAccount(ADMIN, lambda: shared.env[PW_ENV])
    gw_port = shared.ports[0]
    try:
        remove_users()
        before = snapshot(root)
        assert set(before) == {
            "etc",
            "etc/environment",
            "etc/jupyter",
            "etc/jupyter/jupyterhub_config.py",
            "answers.toml",
        }
        for round_ in (1, 2):
            install(shared, root)
            assert port_open(gw_port) and user.exists() and user.password_matches()
            assert UserAccount(GW_USER, lambda: None).exists()
            assert (root / "kernel-venv" / "bin" / "python").exists()
            assert (root / "etc" / "jupyter" / "jupyterhub_config.py").read_bytes() != FOREIGN_HUB_CONFIG

            quiet = ("log", "state/gateway/runtime")  # the running gateway may write there meanwhile
            installed = snapshot(root, quiet)
            r = uninstall(root, "--dry-run")
            assert r.returncode == 0, r.stderr
            assert "stop service gateway (running, pid" in r.stdout
            assert f"restore {root}/etc/jupyter/jupyterhub_config.py as it was before the install" in r.stdout
            assert f"remove the jeg-wizard block from {root}/etc/environment" in r.stdout
            assert f"keep user {ADMIN} (created by the install; --remove-users removes it)" in r.stdout
            assert snapshot(root, quiet) == installed and port_open(gw_port), "the dry run changed something"

            r = uninstall(root, "--remove-users", "--remove-software")
            assert r.returncode == 0, r.stdout + r.stderr
            assert "Uninstall complete." in r.stdout
            assert snapshot(root) == before, "uninstall left something of ours, or lost something that was there"
            assert (root / "etc" / "environment").read_bytes() == FOREIGN_ENV
            assert (root / "etc" / "jupyter" / "jupyterhub_config.py").read_bytes() == FOREIGN_HUB_CONFIG
            assert not user.exists() and not Path(f"/home/{ADMIN}").exists()
            assert not UserAccount(GW_USER, lambda: None).exists()
            assert not port_open(gw_port)
            assert processes_under(root) == {}
            print(f"  round {round_}: install -> dry run -> uninstall: nothing of ours left")
    finally:
        stop(shared, root)


def test_uninstall_after_an_install_killed_mid_pip(shared):
    """Killed while pip fills the kernel venv (pip keeps running: its own session): uninstall finds
    the answers copy the run saved first, stops the orphan and removes everything of ours."""
    root = new_root(shared, "uninstall-killed", own_kernel_venv=True)
    try:
        remove_users()
        before = snapshot(root)
        install_until_killed(shared, root, when=_pip_running(root))
        assert processes_under(root / "kernel-venv"), "expected pip still running after the kill"
        r = uninstall(root, "--remove-users", "--remove-software")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "done: stop commands an interrupted install left running" in r.stdout
        assert processes_under(root) == {}
        assert snapshot(root, ("killed-run.log",)) == before
    finally:
        stop(shared, root)
