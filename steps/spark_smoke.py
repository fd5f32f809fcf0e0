"""README: "Test Spark to make sure we installed it right" (`pyspark`): a tiny real job."""

from jeg_wizard import render
from jeg_wizard.actions import FileContent, command_check
from jeg_wizard.engine import Step

SMOKE = """import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName("jeg-wizard-smoke").getOrCreate()
n = spark.range(100).count()
# one write: spark-submit runs us unbuffered, so print's pieces could interleave with the JVM's log
sys.stdout.write(f"JEG_WIZARD_SMOKE {n}\\n")
spark.stop()
"""


def job_env(ctx) -> dict:
    """The environment of a Spark job the install runs with spark-submit (this smoke test, kernel_jvm's)."""
    L = ctx.layout
    return {
        "JAVA_HOME": str(L.java_home),
        "SPARK_HOME": str(L.spark_home),
        "PYSPARK_PYTHON": ctx.answers.system.python,  # the kernel venv may not exist yet
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYTHONPATH": render.pythonpath(L),  # what the kernel gets: the smoke test proves it too
    }


def build(ctx):
    L = ctx.layout
    script = L.state_dir / "smoke" / "spark_smoke.py"
    env = job_env(ctx)
    argv = [f"{L.spark_home}/bin/spark-submit", "--master", "local[1]", "--conf", "spark.ui.enabled=false", str(script)]
    return [
        FileContent(script, SMOKE, validate=lambda t: render.check_python(t, str(script))),
        command_check(
            "Spark runs a job: spark.range(100).count() == 100", argv, "JEG_WIZARD_SMOKE 100", env=env, timeout=300
        ),
    ]


STEP = Step(
    "spark_smoke",
    "Test Spark with a tiny job",
    "pyspark (exit())",
    build,
    roles=("all", "gateway", "worker"),
    needs=("java", "spark"),
)
