"""Uninstall against the real engine on a temp prefix, with the file-ish steps (environment,
hub_config, the kernelspec files), a directory and a symlink: install, re-install, uninstall, and
every byte that was there before is back; kills between journal and write; the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from jeg_wizard import files, uninstall
from jeg_wizard.actions import Directory, Symlink
from jeg_wizard.answers import parse
from jeg_wizard.engine import Engine, Journal, Step, StepFailed, make_context
from jeg_wizard.layout import Layout
from jeg_wizard.steps import environment, hub_config, kernelspecs

from .conftest import DEBIAN12

# unrelated lines, comments, odd spacing, a tab, CRLF in the middle, no final newline
FOREIGN_ENV = b'PATH="/usr/local/bin:/usr/bin:/bin"\n#  a comment   with odd   spacing\n\n\tLANG=C.UTF-8   \nFOO=bar\r\nLAST_LINE_NO_NEWLINE=1'
FOREIGN_HUB_CONFIG = b"# the operator's own hub config\nc.JupyterHub.port = 9999\n"


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            if p.is_symlink():
                out[str(p)] = "link:" + os.readlink(p)
            elif p.is_dir():
                out[str(p)] = f"dir:{st.st_mode:o}"
            else:
                out[str(p)] = f"{st.st_mode:o}:{hashlib.sha256(p.read_bytes()).hexdigest()}"
    return out


def answers_data(root: Path, **over) -> dict:
    data = {
        "system": {"prefix": f"{root}/opt", "state_dir": f"{root}/state", "log_dir": f"{root}/log"},
        "environment": {"file": f"{root}/etc/environment"},
        "kernels": {"dir": f"{root}/share/jupyter/kernels"},
        "hub": {"config_dir": f"{root}/etc/jupyter", "ip": "127.0.0.1"},
        "users": {"admin": "jegwnobody", "admin_password_env": "JEGW_TEST_PASSWORD"},
        "services": {"manager": "process", "start": False},
    }
    for section, values in over.items():
        data.setdefault(section, {}).update(values)
    return data


def file_steps() -> list[Step]:
    def extra(ctx):
        L = ctx.layout
        return [Directory(L.spark_dir, 0o755), Symlink(L.spark_link, L.spark_dir)]

    return [
        Step("environment", "env", "", environment.build),
        Step("hub_config", "hub config", "", hub_config.build),
        Step("kernel_files", "kernelspec files", "", kernelspecs.kernel_file_actions),
        Step("spark_dirs", "dir and link", "", extra),
    ]


def install(root: Path, **over) -> Layout:
    data = answers_data(root)
    for section, values in over.items():
        data.setdefault(section, {}).update(values)
    a = parse(data, DEBIAN12)
    ctx = make_context(a)
    Engine(ctx, file_steps()).install()
    return ctx.layout


def undo(layout: Layout, **flags) -> list[str]:
    ops = uninstall.plan(layout, emit=lambda s: None, **flags)
    failed = uninstall.run(ops, emit=lambda s: None)
    assert not failed
    return [op.line for op in ops]


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("JEGW_TEST_PASSWORD", "Canary-Pass-7f3a9")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "environment").write_bytes(FOREIGN_ENV)
    os.chmod(tmp_path / "etc" / "environment", 0o640)
    return tmp_path


def test_env_file_survives_install_reinstall_uninstall_byte_for_byte(root):
    before = snapshot(root)
    L = install(root)
    env = (root / "etc" / "environment").read_bytes()
    assert env.startswith(FOREIGN_ENV + b"\n" + files.BEGIN.encode())
    assert f'SPARK_HOME="{root}/opt/spark/pyspark"'.encode() in env
    assert (L.kernel_dir / "kernel.json").exists() and L.hub_config.exists()
    assert os.readlink(L.spark_link) == str(L.spark_dir)
    install(root)  # re-install: nothing changes
    assert (root / "etc" / "environment").read_bytes() == env
    lines = undo(L)
    assert any("remove the jeg-wizard block from" in ln for ln in lines)
    assert (root / "etc" / "environment").read_bytes() == FOREIGN_ENV
    assert snapshot(root) == before  # nothing of ours left: files, dirs, link, state, logs


def test_foreign_config_restored_with_its_mode_and_first_backup_wins(root):
    cfg = root / "etc" / "jupyter" / "jupyterhub_config.py"
    cfg.parent.mkdir()
    cfg.write_bytes(FOREIGN_HUB_CONFIG)
    os.chmod(cfg, 0o640)
    before = snapshot(root)
    with pytest.raises(StepFailed, match="system.replace_existing_files: .* exists and was not written by jeg-wizard"):
        install(root)  # not ours, and the answers do not say to replace it
    assert cfg.read_bytes() == FOREIGN_HUB_CONFIG
    L = install(root, system={"replace_existing_files": True})
    assert cfg.read_bytes() != FOREIGN_HUB_CONFIG
    first = [e for e in Journal(L.state_dir / "journal.jsonl").entries() if e.get("path") == str(cfg)]
    assert first[0]["backup"] and Path(first[0]["backup"]).read_bytes() == FOREIGN_HUB_CONFIG
    install(
        root, hub={"port": 8010}
    )  # ours now (the journal says so): no need to allow it again: its backup is our own first version
    assert b"8010" in cfg.read_bytes()
    lines = undo(L)
    assert any(ln.startswith(f"restore {cfg} as it was before the install") for ln in lines)
    assert cfg.read_bytes() == FOREIGN_HUB_CONFIG and (cfg.stat().st_mode & 0o7777) == 0o640
    assert snapshot(root) == before


def test_env_file_we_created_is_deleted(root):
    (root / "etc" / "environment").unlink()
    before = snapshot(root)
    L = install(root)
    assert (root / "etc" / "environment").read_text().startswith(files.BEGIN)
    undo(L)
    assert snapshot(root) == before


def test_operator_edits_around_our_block_are_kept(root):
    L = install(root)
    env = root / "etc" / "environment"
    text = env.read_bytes()
    env.write_bytes(b"# added on top by the operator\n" + text + b"AFTER=1\n")
    undo(L)
    # the newline we had to add before our block stays: a line follows it now
    assert env.read_bytes() == b"# added on top by the operator\n" + FOREIGN_ENV + b"\nAFTER=1\n"


def test_dry_run_lists_and_changes_nothing(root):
    L = install(root)
    before = snapshot(root)
    ops = uninstall.plan(L, emit=lambda s: None)
    lines = [op.line for op in ops]
    assert snapshot(root) == before
    assert any(ln == f"delete {L.hub_config} (created by the install)" for ln in lines)
    assert any(ln.startswith(f"remove symlink {L.spark_link} -> {L.spark_dir}") for ln in lines)
    assert any(ln.startswith(f"remove the state directory {L.state_dir}") for ln in lines)


def test_kill_between_journal_and_write_then_rerun_then_uninstall(root, monkeypatch):
    """A FileContent killed after its backup and journal entry, before the rename: the re-run
    finishes, and uninstall still restores what was there before."""
    cfg = root / "etc" / "jupyter" / "jupyterhub_config.py"
    cfg.parent.mkdir()
    cfg.write_bytes(FOREIGN_HUB_CONFIG)
    before = snapshot(root)

    class Killed(BaseException):
        pass

    real = files.atomic_write

    def dies_before_rename(path, data, mode=0o644, owner=None):
        if Path(path) == cfg:
            # what a kill -9 inside atomic_write leaves: a complete temp file, no rename
            fd = os.open(cfg.parent / f".{cfg.name}.abcd1234.tmp", os.O_CREAT | os.O_WRONLY, 0o644)
            os.write(fd, data)
            os.close(fd)
            raise Killed()
        return real(path, data, mode, owner)

    monkeypatch.setattr(files, "atomic_write", dies_before_rename)
    with pytest.raises(StepFailed):  # the engine reports the kill as a failed step
        install(root, system={"replace_existing_files": True})
    assert cfg.read_bytes() == FOREIGN_HUB_CONFIG
    monkeypatch.setattr(files, "atomic_write", real)
    L = install(
        root
    )  # journaled before the kill: ours now, replaced without asking again  # the re-run finishes; the stale temp file is gone
    assert not [n for n in os.listdir(cfg.parent) if n.endswith(".tmp")]
    assert cfg.read_bytes() != FOREIGN_HUB_CONFIG
    undo(L)
    assert snapshot(root) == before


def test_half_written_journal_line_is_tolerated(root):
    L = install(root)
    journal = L.state_dir / "journal.jsonl"
    with open(journal, "ab") as f:
        f.write(b'{"ts": 1, "step": "hub_config", "kind": "fi')  # a crash mid-line
    j = Journal(journal)
    n = len(j.entries())
    j.write({"kind": "note", "what": "after the crash"})
    entries = j.entries()
    assert len(entries) == n + 1 and entries[-1]["what"] == "after the crash"
    assert journal.read_bytes().endswith(b'"kind": "fi\n' + json.dumps(entries[-1]).encode() + b"\n")
    install(root)  # the engine reads it too
    undo(L)
    assert (root / "etc" / "environment").read_bytes() == FOREIGN_ENV


def test_symlink_repointed_by_operator_is_kept_and_previous_link_restored(root, tmp_path):
    other = root / "elsewhere"
    other.mkdir()
    (root / "opt").mkdir()
    os.symlink(other, root / "opt" / "spark")  # the operator's link before the install
    L = install(root)
    assert os.readlink(L.spark_link) == str(L.spark_dir)
    undo(L)
    assert os.readlink(root / "opt" / "spark") == str(other)  # put back as it was

    L = install(root)
    os.unlink(L.spark_link)
    os.symlink("/somewhere/else", L.spark_link)  # re-pointed after the install: not ours any more
    lines = undo(L)
    assert os.readlink(L.spark_link) == "/somewhere/else"
    assert any("no longer points where the install set it" in ln for ln in lines)


def test_software_users_packages_only_with_their_flags(root):
    L = install(root)
    venv = root / "opt" / "jeg" / "kernel"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    j = Journal(L.state_dir / "journal.jsonl")
    j.write({"kind": "dir", "path": str(root / "opt" / "jeg"), "created": True})
    j.write({"kind": "venv", "path": str(venv), "created": True})
    j.write({"kind": "dir", "path": str(root / "opt" / ".spark-x.partial"), "created": True})
    (root / "opt" / ".spark-y.partial").mkdir()
    j.write(
        {
            "kind": "dir",
            "path": str(root / "opt" / "spark-y"),
            "created": True,
            "software": True,
            "scratch": str(root / "opt" / ".spark-y.partial"),
        }
    )
    j.write({"kind": "user", "name": "root", "created": False})
    j.write({"kind": "packages", "installed": ["coreutils"]})
    lines = [op.line for op in uninstall.plan(L, emit=lambda s: None)]
    assert f"keep {venv} (installed software; --remove-software removes it)" in lines
    assert f"remove {root}/opt/.spark-y.partial (left by an interrupted install)" in lines
    assert "keep packages coreutils (installed by the install; --remove-packages removes them)" in lines
    assert not any("user root" in ln for ln in lines)  # it was there before us
    undo(L, remove_software=True)
    assert not (root / "opt").exists()  # venv, the dirs around it, the scratch tree: all ours


def test_cli_dry_run_then_uninstall(root):
    data = answers_data(root)
    a = root / "answers.toml"
    a.write_text(tomli_w.dumps(data))
    before = snapshot(root)
    L = install(root)
    env = {**os.environ, "JEGW_TEST_PASSWORD": "x"}

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "jeg_wizard", "uninstall", *args],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )

    installed = snapshot(root)
    r = cli("--dry-run", "--answers", str(a))
    assert r.returncode == 0, r.stderr
    assert f"delete {L.hub_config} (created by the install)" in r.stdout and "Nothing was changed" in r.stdout
    assert snapshot(root) == installed
    r = cli("--answers", str(a))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Uninstall complete." in r.stdout
    assert snapshot(root) == before
    r = cli("--answers", str(a))
    assert r.returncode == 1 and "nothing to undo: no journal at" in r.stderr
    r = cli("--state-dir", str(root / "nowhere"))
    assert r.returncode == 2 and "no install found" in r.stderr


def test_second_run_on_the_same_state_dir_is_refused(root):
    """An install or uninstall holds <state_dir>/install.lock: a second one stops, naming the holder,
    before it could kill the first one's commands or write the same files."""
    L = install(root)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from jeg_wizard.engine import lock_state_dir; lock_state_dir(Path(sys.argv[1])); "
            "print('locked', flush=True); time.sleep(60)",
            str(L.state_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        data = answers_data(root)
        a = root / "answers.toml"
        a.write_text(tomli_w.dumps(data))
        r = subprocess.run(
            [sys.executable, "-m", "jeg_wizard", "uninstall", "--answers", str(a)],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )
        assert r.returncode == 1 and f"another jeg-wizard run is working on {L.state_dir} (pid {holder.pid}" in r.stderr
        assert (L.state_dir / "journal.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()


def test_an_upgraded_venv_its_symlink_and_both_versions_go_with_remove_software(root):
    """After `jeg-wizard upgrade` the stable path is a symlink to hub-<sha> and the old venv is beside it."""
    L = install(root)
    jeg = root / "opt" / "jeg"
    link, new, old = jeg / "hub", jeg / "hub-aaaa", jeg / "hub-bbbb"
    for d in (new, old):
        (d / "bin").mkdir(parents=True)
        (d / "bin" / "python").write_text("")
    os.symlink(new.name, link)
    j = Journal(L.state_dir / "journal.jsonl")
    j.write({"kind": "dir", "path": str(jeg), "created": True})
    for p in (link, new, old):  # as the install and upgrade journal them
        j.write({"kind": "venv", "path": str(p), "created": True})
    lines = [op.line for op in uninstall.plan(L, emit=lambda s: None)]
    assert f"keep {link} (installed software; --remove-software removes it)" in lines
    assert f"keep {old} (installed software; --remove-software removes it)" in lines
    os.unlink(link)
    os.symlink("hub-gone", link)  # even dangling, it is ours to remove
    lines = undo(L, remove_software=True)
    assert not jeg.exists() and not link.is_symlink(), (lines, list(jeg.iterdir()))
