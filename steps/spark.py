"""README: download Spark, extract under /opt, `ln -s /opt/spark-<ver> /opt/spark`.

Sources: Apache by version, a URL, a local tarball (sha512 verified where a checksum exists), or
PyPI's pyspark (its package directory is a complete SPARK_HOME; Apache mirrors may be unreachable).
"""

from jeg_wizard import download
from jeg_wizard.actions import Download, Extract, PipTarget, Symlink
from jeg_wizard.engine import Step


def checksum(ctx):
    s = ctx.answers.spark
    cache = {}

    def value() -> str:
        if "v" not in cache:
            if ctx.bundle:
                cache["v"] = ctx.bundle.spark_sha512  # recorded when the bundle was built
            elif s.sha512:
                cache["v"] = s.sha512
            elif s.source == "apache":
                text = download.fetch_text(ctx.layout.spark_url + ".sha512")
                cache["v"] = download.parse_sha512(text) if text else ""
            else:
                cache["v"] = ""
        return cache["v"]

    return value


def build(ctx):
    L, s = ctx.layout, ctx.answers.spark
    if s.source == "pypi":
        fetch = [PipTarget(L.spark_dir, f"pyspark=={s.version}", "pyspark/bin/spark-submit")]
    else:
        url = ctx.bundle.spark_url() if ctx.bundle else L.spark_url
        fetch = [
            Download(url, L.spark_download, checksum(ctx)),
            Extract(L.spark_download, L.spark_dir, "bin/spark-submit"),
        ]
    return [*fetch, Symlink(L.spark_link, L.spark_dir)]


STEP = Step(
    "spark",
    "Install Apache Spark under the prefix, with the spark symlink",
    "wget spark-*.tgz; tar -xvf -C /opt; ln -s",
    build,
    roles=("all", "gateway", "worker"),
    needs=("system",),
)
