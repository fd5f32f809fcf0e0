"""The kernels' JVM class archive (issue 15 item 4): its key follows the java and Spark's jars, the
action writes it through the real Runner (whole, 0644, journaled) or says why not, in the step or in the
background (building, failed, stopped by uninstall), kernel.json maps it before the user's own options,
and the doctor says when it is stale. The real JVM: tests/e2e/test_install."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest

from jeg_wizard.actions.jvm import ArchiveRecord, JvmArchive
from jeg_wizard.actions.records import Undo
from jeg_wizard.checks import kernels as kernel_checks
from jeg_wizard.checks.install import Install
from jeg_wizard.class_archive import (
    archive_key,
    archive_state,
    builder,
    driver_archive_key,
    failure,
    key_file,
    sidecar,
    stop_builder,
    wait_built,
)
from jeg_wizard.engine import make_context
from jeg_wizard.layout import Layout
from jeg_wizard.steps import kernelspecs, spark_smoke


def fake_java_and_spark(root: Path) -> tuple[Path, Path]:
    java, spark = root / "jvm", root / "spark"
    (java / "lib" / "server").mkdir(parents=True)
    (java / "release").write_text('JAVA_VERSION="17.0.15"\n')
    (java / "lib" / "server" / "libjvm.so").write_bytes(b"x" * 10)
    (spark / "jars").mkdir(parents=True)
    (spark / "jars" / "spark-core.jar").write_bytes(b"y" * 10)
    return java, spark


def test_the_key_follows_the_java_the_jars_and_the_options(tmp_path):
    java, spark = fake_java_and_spark(tmp_path)
    archive = tmp_path / "a.jsa"
    key = archive_key(java, spark, "--driver-memory 1g")
    assert archive_state(archive, key) == "missing"
    archive.write_bytes(b"cds")
    key_file(archive).write_text(key + "\n")
    assert archive_state(archive, key) == "current"
    assert archive_key(java, spark, "--driver-memory 2g") != key
    (spark / "jars" / "spark-core.jar").write_bytes(b"y" * 11)  # an upgraded Spark
    assert archive_state(archive, archive_key(java, spark, "--driver-memory 1g")) == "stale"
    (spark / "jars" / "spark-core.jar").write_bytes(b"y" * 10)
    (java / "release").write_text('JAVA_VERSION="17.0.16"\n')  # apt upgraded the JDK
    assert archive_state(archive, archive_key(java, spark, "--driver-memory 1g")) == "stale"


# what a JVM does with -XX:ArchiveClassesAtExit=<path>: writes the file when it exits
WRITES = "import re, sys; p = re.search(r'ArchiveClassesAtExit=(\\S+)', sys.argv[1]).group(1); open(p, 'wb').write(b'C' * 64)"


def test_the_action_writes_the_archive_whole_and_journaled(tmp_answers, tmp_path):
    ctx = make_context(tmp_answers())
    archive = tmp_path / "opt" / "jeg" / "kernel-jvm" / "spark-driver.jsa"
    action = JvmArchive(archive, lambda opts: [sys.executable, "-c", WRITES, opts], {}, lambda: "key-1")
    assert not action.done(ctx)
    action.apply(ctx)
    assert archive.read_bytes() == b"C" * 64 and oct(archive.stat().st_mode & 0o777) == "0o644"
    assert key_file(archive).read_text() == "key-1\n"
    assert not sidecar(archive, ".partial").exists()
    assert oct(sidecar(archive, ".job.json").stat().st_mode & 0o777) == "0o600"
    assert action.done(ctx)
    journaled = {e.get("path") for e in ctx.journal.entries() if e.get("kind") == "jvm-archive"}
    assert journaled == {str(archive)}  # uninstall removes it, its key and its job's files
    assert not JvmArchive(archive, action.argv, {}, lambda: "key-2").done(ctx)  # stale: built again


def test_a_java_that_writes_no_archive_fails_the_step_with_the_way_out(tmp_answers, tmp_path):
    ctx = make_context(tmp_answers())
    archive = tmp_path / "opt" / "a.jsa"
    action = JvmArchive(archive, lambda opts: [sys.executable, "-c", "pass", opts], {}, lambda: "k")
    with pytest.raises(Exception, match="kernels.jvm_archive = false"):
        action.apply(ctx)
    assert not archive.exists() and not key_file(archive).exists()


def test_a_non_empty_spark_conf_dir_is_refused_with_the_way_out(tmp_answers, tmp_path):
    """A JVM exits with an error instead of writing an archive when a class path directory holds files."""
    ctx = make_context(tmp_answers())
    conf = tmp_path / "spark" / "conf"
    conf.mkdir(parents=True)
    (conf / "spark-defaults.conf").write_text("spark.ui.enabled false\n")
    archive = tmp_path / "opt" / "a.jsa"
    action = JvmArchive(archive, lambda opts: [sys.executable, "-c", WRITES, opts], {}, lambda: "k", conf_dir=conf)
    with pytest.raises(RuntimeError, match=r"conf directory .* is not empty.*kernels.jvm_archive = false"):
        action.apply(ctx)
    assert not archive.exists()
    (conf / "spark-defaults.conf").unlink()  # an empty conf/ is fine
    action.apply(ctx)
    assert archive.exists()


def submit_args(answers) -> list[str]:
    ctx = make_context(answers)
    spec = next(a for a in kernelspecs.kernel_file_actions(ctx) if a.path.name == "kernel.json")
    return shlex.split(json.loads(spec.text())["env"]["PYSPARK_SUBMIT_ARGS"])


def test_kernel_json_maps_the_archive_before_the_users_own_java_options(tmp_answers):
    a = tmp_answers(kernels={"spark_opts": "--driver-java-options -Dmine=1"})
    args = submit_args(a)
    mapped = f"-XX:SharedArchiveFile={Layout(a).kernel_jvm_archive} -XX:-UsePerfData"
    assert mapped in args and args.index(mapped) < args.index("-Dmine=1")  # the last one wins in spark-submit
    assert args[args.index(mapped) - 1] == "--driver-java-options" and args[-1] == "pyspark-shell"
    off = tmp_answers(kernels={"jvm_archive": False})
    assert Layout(off).kernel_jvm_archive is None
    assert "-XX:-UsePerfData" in submit_args(off) and "SharedArchiveFile" not in " ".join(submit_args(off))
    assert spark_smoke.archive_job(make_context(off)) is None  # the smoke job alone
    tarball = tmp_answers(spark={"source": "apache"})  # conf/ with its templates is on the class path
    assert Layout(tarball).kernel_jvm_archive is None and "SharedArchiveFile" not in " ".join(submit_args(tarball))


def test_the_doctor_warns_when_the_archive_is_missing_or_stale(tmp_answers):
    a = tmp_answers()
    L = Layout(a)
    site = Install(L)
    try:
        (finding,) = kernel_checks.archive(site)
        assert finding.level == "warn" and "is missing" in finding.detail and "smoke job" in finding.fix
        L.kernel_jvm_archive.parent.mkdir(parents=True)
        L.kernel_jvm_archive.write_bytes(b"cds")
        key_file(L.kernel_jvm_archive).write_text("an old key\n")
        (finding,) = kernel_checks.archive(site)
        assert finding.level == "warn" and "no longer matches" in finding.detail
    finally:
        site.close()


def test_the_smoke_job_writes_the_archive_and_must_print_its_result(tmp_answers, tmp_path):
    """One Spark job for both: the archive's job is the smoke test, and fails it when the count is wrong."""
    ctx = make_context(tmp_answers())
    archive = tmp_path / "a.jsa"

    def job(prints: str):
        code = WRITES + f"; print({prints!r})"
        return JvmArchive(
            archive,
            lambda opts: [sys.executable, "-c", code, opts],
            {},
            lambda: "k",
            expect=("Spark runs", "SMOKE 100"),
        )

    with pytest.raises(Exception, match="Spark runs: expected 'SMOKE 100'"):
        job("SMOKE 99").apply(ctx)
    assert not archive.exists()  # a job that failed its check leaves no archive for the kernels
    assert archive_state(archive, "k") == "failed" and "expected 'SMOKE 100'" in failure(archive)
    job("SMOKE 100").apply(ctx)
    assert archive.exists()


def test_the_step_runs_one_spark_job_the_archives_when_it_is_missing(tmp_answers):
    a = tmp_answers()
    ctx = make_context(a)
    L = ctx.layout
    titles = [x.title for x in spark_smoke.build(ctx)]
    assert len(titles) == 2 and "JVM class archive" in titles[1] and titles[1].startswith(spark_smoke.TITLE)
    job = spark_smoke.archive_job(ctx)
    L.kernel_jvm_archive.parent.mkdir(parents=True)
    L.kernel_jvm_archive.write_bytes(b"cds")
    key_file(L.kernel_jvm_archive).write_text(job.key() + "\n")
    check = spark_smoke.build(ctx)[1]  # current archive: the plain job, a deep check (runs when verifying)
    assert check.title == spark_smoke.TITLE and check.verify_only and check.deep
    worker = make_context(a, role="worker")
    assert spark_smoke.archive_job(worker) is None  # a worker's JVMs are executors: no kernels map an archive


# the job's JVM stand-in: waits for a go file, then writes the archive and prints what it is told
WAITS = (
    "import os, re, sys, time; p = re.search(r'ArchiveClassesAtExit=(\\S+)', sys.argv[1]).group(1); go = sys.argv[2]\n"
    "while not os.path.exists(go): time.sleep(0.05)\n"
    "open(p, 'wb').write(b'C' * 64); print(open(go).read())"
)


STARTED: list[Path] = []


@pytest.fixture(autouse=True)
def _no_job_left():
    yield
    while STARTED:  # a failed test's job would wait for its go file for ever
        stop_builder(STARTED.pop())


def background(tmp_path, go: Path, log: Path) -> JvmArchive:
    archive = tmp_path / "opt" / "kernel-jvm" / "a.jsa"
    STARTED.append(archive)
    return JvmArchive(
        archive,
        lambda opts: [sys.executable, "-c", WAITS, opts, str(go)],
        {},
        lambda: "k",
        expect=("Spark runs", "SMOKE 100"),
        log=log,
    )


def test_in_the_background_the_install_goes_on_and_a_rerun_leaves_the_job_alone(tmp_answers, tmp_path):
    ctx = make_context(tmp_answers())
    go, log = tmp_path / "go", tmp_path / "log" / "class-archive.log"
    action = background(tmp_path, go, log)
    action.apply(ctx)  # returns while the job waits
    assert wait_built(action.archive, "k", timeout=0.5) == "building"
    pid = builder(action.archive)
    assert pid and Path(f"/proc/{pid}").exists()
    assert action.done(ctx)  # a re-run while it builds starts no second job
    assert os.getpriority(os.PRIO_PROCESS, pid) == 19
    go.write_text("SMOKE 100")
    assert wait_built(action.archive, "k", timeout=30) == "current"
    assert action.archive.read_bytes() == b"C" * 64 and builder(action.archive) is None
    assert "SMOKE 100" in log.read_text() and f"wrote {action.archive}" in log.read_text()


def test_a_failed_background_job_leaves_its_reason_for_the_doctor_and_a_rerun_tries_again(tmp_answers, tmp_path):
    a = tmp_answers()
    ctx = make_context(a)
    go, log = tmp_path / "go", tmp_path / "log" / "class-archive.log"
    go.write_text("SMOKE 99")
    action = background(tmp_path, go, log)
    action.apply(ctx)
    assert wait_built(action.archive, "k", timeout=30) == "failed"
    assert not action.archive.exists() and not sidecar(action.archive, ".partial").exists()
    assert "expected 'SMOKE 100'" in failure(action.archive) and "error: Spark runs" in log.read_text()
    assert not action.done(ctx)  # the next run starts it again
    go.write_text("SMOKE 100")
    action.apply(ctx)
    assert wait_built(action.archive, "k", timeout=30) == "current" and not failure(action.archive)


def test_the_doctor_says_building_then_why_it_failed(tmp_answers, tmp_path):
    a = tmp_answers()
    L = Layout(a)
    go = tmp_path / "go"
    archive = L.kernel_jvm_archive
    STARTED.append(archive)
    action = JvmArchive(
        archive,
        lambda opts: [sys.executable, "-c", WAITS, opts, str(go)],
        {},
        lambda: driver_archive_key(L),
        expect=("Spark runs", "SMOKE 100"),
        log=L.class_archive_log,
    )
    site = Install(L)
    try:
        action.apply(make_context(a))
        assert wait_built(archive, driver_archive_key(L), timeout=0.5) == "building"
        (finding,) = kernel_checks.archive(site)
        assert finding.level == "ok" and "being written in the background" in finding.detail
        go.write_text("no count")
        assert wait_built(archive, driver_archive_key(L), timeout=30) == "failed"
        (finding,) = kernel_checks.archive(site)
        assert finding.level == "warn" and "could not be written: Spark runs: expected 'SMOKE 100'" in finding.detail
        assert str(L.class_archive_log) in finding.detail
    finally:
        site.close()


def test_uninstall_stops_a_job_still_writing_and_removes_every_file(tmp_answers, tmp_path):
    a = tmp_answers()
    ctx = make_context(a)
    action = background(tmp_path, tmp_path / "never", tmp_path / "log" / "class-archive.log")
    action.apply(ctx)
    assert wait_built(action.archive, "k", timeout=0.5) == "building"
    pid = builder(action.archive)
    (op,) = ArchiveRecord(str(action.archive)).undo(Undo(ctx.layout, ctx.runner, print, False, False, False))
    assert f"stop the job writing it (pid {pid})" in op.line
    op.do()
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    left = [p.name for p in action.archive.parent.iterdir()]
    assert left == [], left


def test_uninstall_plans_the_archive_among_the_services_and_stops_its_job_first(tmp_answers, tmp_path):
    """The journal of a real install holds both: the plan sorts them together (a systemd server's uninstall
    failed on it: a path compared with a stop order)."""
    from jeg_wizard import uninstall
    from jeg_wizard.actions import ServiceRecord

    a = tmp_answers()
    ctx = make_context(a)
    action = background(tmp_path, tmp_path / "never", tmp_path / "log" / "class-archive.log")
    action.apply(ctx)
    ctx.record(ServiceRecord("hub", "process"))
    ctx.record(ServiceRecord("gateway", "process"))
    lines = [op.line for op in uninstall.plan(ctx.layout, emit=lambda s: None)]
    first = next(i for i, line in enumerate(lines) if "stop the job writing it" in line)
    assert first < next(i for i, line in enumerate(lines) if line.startswith("stop service"))
