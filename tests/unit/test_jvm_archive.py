"""The kernels' JVM class archive (issue 15 item 4): its key follows the java and Spark's jars, the
action writes it through the real Runner (whole, 0644, journaled) or says why not, kernel.json maps it
before the user's own options, and the doctor says when it is stale. The real JVM: tests/e2e/test_install."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from jeg_wizard.actions.jvm import JvmArchive
from jeg_wizard.checks import kernels as kernel_checks
from jeg_wizard.checks.install import Install
from jeg_wizard.class_archive import archive_key, archive_state, key_file
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
    assert not action.partial().exists()
    assert action.done(ctx)
    journaled = {e.get("path") for e in ctx.journal.entries() if e.get("kind") == "file"}
    assert {str(archive), str(key_file(archive))} <= journaled  # uninstall removes both
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
    mapped = f"-XX:SharedArchiveFile={Layout(a).kernel_jvm_archive}"
    assert mapped in args and args.index(mapped) < args.index("-Dmine=1")  # the last one wins in spark-submit
    assert args[-1] == "pyspark-shell"
    off = tmp_answers(kernels={"jvm_archive": False})
    assert Layout(off).kernel_jvm_archive is None
    assert "--driver-java-options" not in submit_args(off)
    assert spark_smoke.archive_job(make_context(off)) is None  # the smoke job alone
    tarball = tmp_answers(spark={"source": "apache"})  # conf/ with its templates is on the class path
    assert Layout(tarball).kernel_jvm_archive is None and "--driver-java-options" not in submit_args(tarball)


def test_the_doctor_warns_when_the_archive_is_missing_or_stale(tmp_answers):
    a = tmp_answers()
    L = Layout(a)
    site = Install(L)
    try:
        (finding,) = kernel_checks._archive(site)
        assert finding.level == "warn" and "is missing" in finding.detail and "smoke job" in finding.fix
        L.kernel_jvm_archive.parent.mkdir(parents=True)
        L.kernel_jvm_archive.write_bytes(b"cds")
        key_file(L.kernel_jvm_archive).write_text("an old key\n")
        (finding,) = kernel_checks._archive(site)
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

    with pytest.raises(RuntimeError, match="Spark runs: expected 'SMOKE 100'"):
        job("SMOKE 99").apply(ctx)
    assert not archive.exists()  # a job that failed its check leaves no archive for the kernels
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
