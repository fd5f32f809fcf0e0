"""README: "Test Spark to make sure we installed it right" (`pyspark`): a tiny real job.

Not in the README: where kernels run on this host, the same job also writes a class archive of Spark's
driver JVM, so a kernel starts in about half the time (jeg_wizard/class_archive.py). It runs as a kernel's
driver would (same spark-submit, class path and driver memory) and its JVM writes every class it loaded
at exit; kernel.json's PYSPARK_SUBMIT_ARGS maps it (render.jvm_options). One JVM for both: on two cores a
second Spark job costs the install about 15 s. When the services start, that job runs in the background
once the install has ended, at idle priority (about 25 s of one core): health's own Spark job through the
hub proves Spark, and on two cores a JVM beside the install slowed it by 5-10 s. Status and the doctor
say "building" until it is written; class-archive.log has the job's output. Answers kernels.jvm_archive =
false, a Java before 17, or a Spark from a tarball (its conf/ directory is on the driver's class path)
leave only the plain job (Layout.kernel_jvm_archive).
"""

from pathlib import Path

from jeg_wizard import render, services
from jeg_wizard.actions import FileContent, command_check
from jeg_wizard.actions.jvm import JvmArchive
from jeg_wizard.class_archive import driver_archive_key
from jeg_wizard.engine import INSTALL_LOCK, Step

SMOKE = """import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("jeg-wizard-smoke").getOrCreate()
n = spark.range(100).count()
# one write: spark-submit runs us unbuffered, so print's pieces could interleave with the JVM's log
sys.stdout.write(f"JEG_WIZARD_SMOKE {n}\\n")
spark.stop()
"""
EXPECT = "JEG_WIZARD_SMOKE 100"
TITLE = "Spark runs a job: spark.range(100).count() == 100"
KERNEL_ROLES = ("all", "gateway")  # the hosts whose kernels map the archive (a worker runs executors only)


def script(L) -> Path:
    return L.state_dir / "smoke" / "spark_smoke.py"


def job_env(ctx) -> dict:
    """The environment of the Spark job the install runs with spark-submit."""
    L = ctx.layout
    return {
        "JAVA_HOME": str(L.java_home),
        "SPARK_HOME": str(L.spark_home),
        "PYSPARK_PYTHON": ctx.answers.system.python,  # the kernel venv may not exist yet
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYTHONPATH": render.pythonpath(L),  # what the kernel gets: the smoke test proves it too
    }


def archive_job(ctx) -> JvmArchive | None:
    """The smoke job run as a kernel's driver, writing the class archive; None where no archive is wanted."""
    L = ctx.layout
    archive = L.kernel_jvm_archive
    if archive is None or ctx.role not in KERNEL_ROLES:
        return None
    job, memory = script(L), ctx.answers.spark.driver_memory

    def argv(java_options: str) -> list[str]:
        # local[*] whatever the master: only the driver's classes matter. The JIT's first tier only: a
        # short job spends a third of its CPU in the optimizing compiler, and JIT flags do not enter the
        # archive (the kernels run with the full JIT)
        return [
            f"{L.spark_home}/bin/spark-submit",
            *("--master", "local[*]", "--driver-memory", memory),
            *("--driver-java-options", f"{java_options} -XX:TieredStopAtLevel=1", str(job)),
        ]

    return JvmArchive(
        archive,
        argv,
        job_env(ctx),
        lambda: driver_archive_key(L),
        conf_dir=L.spark_home / "conf",
        expect=(TITLE, EXPECT),
        log=L.class_archive_log if ctx.answers.services.start else None,
        systemd=services.manager(ctx.answers.services.manager, L.services_dir).kind == "systemd",
        after=L.state_dir / INSTALL_LOCK,
    )


def build(ctx):
    L = ctx.layout
    path = script(L)
    actions = [FileContent(path, SMOKE, validate=lambda t: render.check_python(t, str(path)))]
    job = archive_job(ctx)
    if job is not None and not job.done(ctx):
        return [*actions, job]  # the job that writes the archive is this run's smoke test
    argv = [f"{L.spark_home}/bin/spark-submit", "--master", "local[1]", "--conf", "spark.ui.enabled=false", str(path)]
    return [*actions, command_check(TITLE, argv, EXPECT, env=job_env(ctx), timeout=300)]


STEP = Step(
    "spark_smoke",
    "Test Spark with a tiny job (and keep its JVM's classes: kernels start faster)",
    "pyspark (exit())",
    build,
    roles=("all", "gateway", "worker"),
    titles={"worker": "Test Spark with a tiny job"},
    needs=("java", "spark"),
)
