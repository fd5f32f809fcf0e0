"""The actions' contract: typed journal records that round-trip and read yesterday's journals the
same way, and effects that happen only through the runner (a dry run changes nothing)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from jeg_wizard import actions, uninstall
from jeg_wizard.actions import (
    KINDS,
    ArchiveRecord,
    BlockRecord,
    DirRecord,
    FileRecord,
    LinkRecord,
    PackagesRecord,
    ServiceRecord,
    UserRecord,
    VenvRecord,
)
from jeg_wizard.engine import Engine, Journal, make_context
from jeg_wizard.runner import DryRunRunner, Runner
from jeg_wizard.steps import STEPS

FIXTURES = Path(__file__).parent / "fixtures"

EXAMPLES = [
    FileRecord(
        "/etc/jupyter/jupyterhub_config.py",
        backup="/var/lib/jeg-wizard/backups/x.1",
        created=False,
        mode=0o640,
        owner=[0, 0],
    ),
    FileRecord(
        "/var/lib/jeg-wizard/downloads/spark.tgz", created=True, scratch="/var/lib/jeg-wizard/downloads/spark.tgz.part"
    ),
    BlockRecord(
        "/etc/environment", backup="/b/environment.1", created=False, mode=0o644, owner=[0, 0], added_newline=True
    ),
    DirRecord("/opt/jeg", created=True),
    DirRecord("/opt/spark-4.0.0", created=True, software=True, scratch="/opt/.spark-4.0.0.partial"),
    VenvRecord("/opt/jeg/hub", created=True),
    LinkRecord("/opt/spark", target="/opt/spark-4.0.0", previous="/opt/spark-3.5.1"),
    UserRecord("hubadmin", created=True),
    PackagesRecord(["openjdk-17-jre-headless", "nodejs"]),
    ServiceRecord("hub", "systemd"),
    ArchiveRecord("/opt/jeg/kernel-jvm/spark-driver.jsa"),
]


def _fixture_module():
    spec = importlib.util.spec_from_file_location("make_journal_v1", FIXTURES / "make_journal_v1.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def snapshot(root: Path) -> dict[str, str]:
    out = {}
    for d, dirs, fs in os.walk(root):
        for name in dirs + fs:
            p = Path(d) / name
            st = p.lstat()
            out[str(p)] = (
                os.readlink(p)
                if p.is_symlink()
                else f"{st.st_mode:o}:{st.st_uid}:" + (p.read_text(errors="replace") if p.is_file() else "dir")
            )
    return out


def test_every_record_kind_has_an_example():
    assert {type(r).kind for r in EXAMPLES} == set(KINDS)


@pytest.mark.parametrize("record", EXAMPLES, ids=lambda r: f"{r.kind}:{r.key()[-1] if len(r.key()) > 1 else ''}")
def test_every_record_round_trips_through_the_journal(tmp_path, record):
    journal = Journal(tmp_path / "state" / "journal.jsonl")
    journal.write(record.entry())
    assert json.loads(journal.path.read_text().splitlines()[-1])["kind"] == record.kind
    assert journal.records()[-1] == record


def test_notes_unknown_kinds_and_cut_lines_are_not_records(tmp_path):
    journal = Journal(tmp_path / "journal.jsonl")
    journal.path.write_text(
        '{"kind": "note", "what": "state directory"}\n{"action": "write /etc/x"}\n'
        '{"kind": "from-a-later-release", "path": "/x"}\n{"kind": "user"}\n'
        '{"kind": "user", "name": "a", "created": true}\n{"kind": "fi'
    )
    assert journal.records() == [UserRecord("a", True)]


def test_fold_keeps_the_state_before_us_and_the_last_target():
    folded = actions.fold(
        [
            FileRecord("/f", backup="/b/f.1", mode=0o640),
            FileRecord("/f", backup="/b/f.2", mode=0o644),
            LinkRecord("/l", "/a", None),
            LinkRecord("/l", "/b", "/a"),
            DirRecord("/v", created=False),
            VenvRecord("/v", created=True),
            PackagesRecord(["a", "b"]),
            PackagesRecord(["b", "c"]),
            UserRecord("u", True),
            UserRecord("u", False),
            ServiceRecord("hub", "process"),
            ServiceRecord("hub", "systemd"),
        ]
    )
    assert folded == [
        FileRecord("/f", backup="/b/f.1", mode=0o640),
        LinkRecord("/l", "/b", None),
        VenvRecord("/v", created=True),
        PackagesRecord(["a", "b", "c"]),
        UserRecord("u", True),
        ServiceRecord("hub", "systemd"),
    ]


@pytest.mark.parametrize("flags", ["default", "everything"])
def test_a_journal_written_before_typed_records_gives_the_same_uninstall_plan(tmp_path, flags):
    fx = _fixture_module()
    expected = json.loads((FIXTURES / "journal_v1.json").read_text())["plans"][flags]
    fx.build(tmp_path)
    ops = uninstall.plan(fx.layout(tmp_path), emit=lambda s: None, **fx.FLAGS[flags])
    assert [[op.line.replace(str(tmp_path), fx.R), op.do is not None] for op in ops] == expected


def test_the_whole_uninstall_through_a_dry_run_runner_changes_nothing(tmp_path):
    fx = _fixture_module()
    fx.build(tmp_path)
    before = snapshot(tmp_path)
    runner = DryRunRunner(probe_results=None)
    said = []
    runner.subscribe(said.append)
    ops = uninstall.plan(fx.layout(tmp_path), emit=lambda s: None, runner=runner, **fx.FLAGS["everything"])
    assert not uninstall.run(ops, emit=lambda s: None)
    assert snapshot(tmp_path) == before
    assert ["userdel", "-r", "nobody"] in runner.commands and ["systemctl", "daemon-reload"] in runner.commands
    assert f"would rm -rf {tmp_path}/state (dry run)" in said


def test_runner_effects_are_only_said_in_a_dry_run(tmp_path):
    (tmp_path / "f").write_text("x")
    (tmp_path / "d").mkdir()
    before = snapshot(tmp_path)
    r = DryRunRunner()
    said = []
    r.subscribe(said.append)
    r.write(tmp_path / "new", b"y", 0o600)
    assert r.backup(tmp_path / "f", tmp_path / "backups") is None
    r.mkdir(tmp_path / "a" / "b")
    r.chmod(tmp_path / "f", 0o600)
    r.chown(tmp_path / "f", (1, 1))
    r.symlink(tmp_path / "link", tmp_path / "f")
    r.rename(tmp_path / "f", tmp_path / "g")
    r.remove(tmp_path / "d")
    r.rmdir(tmp_path / "d")
    r.systemctl("daemon-reload")
    assert r.check("a check", lambda: pytest.fail("a dry run runs no check")) is None
    assert snapshot(tmp_path) == before
    assert len([s for s in said if s.startswith("would ")]) == 10 and r.commands == [["systemctl", "daemon-reload"]]


def test_runner_effects_happen_and_are_logged(tmp_path):
    said = []
    r = Runner(log=said.append)
    r.mkdir(tmp_path / "a", 0o750)
    r.write(tmp_path / "a" / "f", b"x", 0o640)
    saved = r.backup(tmp_path / "a" / "f", tmp_path / "backups")
    r.symlink(tmp_path / "l", tmp_path / "a")
    r.symlink(tmp_path / "l", tmp_path / "b")
    assert saved.read_bytes() == b"x" and (saved.stat().st_mode & 0o777) == 0o600
    assert os.readlink(tmp_path / "l") == str(tmp_path / "b")
    assert ((tmp_path / "a" / "f").stat().st_mode & 0o777) == 0o640
    r.remove(tmp_path / "a")
    assert not (tmp_path / "a").exists()
    assert said[:2] == [f"mkdir -p -m 750 {tmp_path}/a", f"write {tmp_path}/a/f (mode 640)"]


def test_a_dry_run_of_every_step_creates_no_file(tmp_answers, tmp_path):
    before = snapshot(tmp_path)
    ctx = make_context(tmp_answers(services={"manager": "systemd"}), DryRunRunner(probe_results={}), dry_run=True)
    said = []
    ctx.runner.subscribe(said.append)
    engine = Engine(ctx, STEPS)
    for step in STEPS:
        engine.run_step(step)
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "state").exists()
    for effect in (
        f"would write {tmp_path}/etc/jupyter/jupyterhub_config.py",
        f"would mkdir -p -m 755 {tmp_path}/opt/jeg/proxy",
        f"would ln -sfn {tmp_path}/opt/spark-4.3.0-pypi {tmp_path}/opt/spark",
        "would start hub (systemd)",
        "would check: ",
    ):
        assert any(s.startswith(effect) for s in said), effect


def test_no_action_asks_whether_it_is_a_dry_run():
    src = Path(actions.__file__).parent
    assert not [p.name for p in src.glob("*.py") if "dry_run" in p.read_text()]
