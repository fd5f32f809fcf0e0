"""Not in the README: a class archive of Spark's driver JVM, so a kernel starts in about half the time.

One Spark job runs as a kernel's driver would (same spark-submit, class path and driver memory) and its JVM
writes every class it loaded into the archive at exit; kernel.json's PYSPARK_SUBMIT_ARGS maps it
(render.jvm_options). The job runs on local[*] whatever the master: only the driver's classes matter.
Answers kernels.jvm_archive = false, a Java before 17, or a Spark from a tarball (its conf/ directory is on
the driver's class path) leave this step empty (Layout.kernel_jvm_archive).
"""

from jeg_wizard import render
from jeg_wizard.actions import FileContent
from jeg_wizard.actions.jvm import JvmArchive
from jeg_wizard.class_archive import driver_archive_key
from jeg_wizard.engine import Step

from . import spark_smoke

JOB = """from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("jeg-wizard-jvm-archive").getOrCreate()
assert spark.range(1000).count() == 1000
spark.stop()
"""


def build(ctx):
    L = ctx.layout
    archive = L.kernel_jvm_archive
    if archive is None:
        return []
    script = L.state_dir / "smoke" / "jvm_archive_job.py"
    memory = ctx.answers.spark.driver_memory

    def argv(java_options: str) -> list[str]:
        return [
            f"{L.spark_home}/bin/spark-submit",
            *("--master", "local[*]", "--driver-memory", memory),
            *("--driver-java-options", java_options, str(script)),
        ]

    return [
        FileContent(script, JOB, validate=lambda t: render.check_python(t, str(script))),
        JvmArchive(
            archive, argv, spark_smoke.job_env(ctx), lambda: driver_archive_key(L), conf_dir=L.spark_home / "conf"
        ),
    ]


STEP = Step(
    "kernel_jvm",
    "Build the kernels' JVM class archive (kernels start faster)",
    "(not in the README)",
    build,
    roles=("all", "gateway"),
    needs=("java", "spark"),
)
