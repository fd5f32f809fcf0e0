"""Time to the first Spark result through hub -> gateway, against pyspark started directly on the same box.

Target (issue 15): through the hub <= 1.2x direct. Both sides start a fresh Spark driver and run the same
`spark.range(1000).count()`; both are measured in this run, alternating, so the machine's load hits both:
- direct: the kernel's own interpreter with the kernelspec's environment (SPARK_HOME, JAVA_HOME,
  PYTHONPATH, PYSPARK_SUBMIT_ARGS) from process start to the printed count;
- through the hub: the user's server already running (spawn is printed, not counted), kernel start
  request -> kernel ready (websocket, kernel_info) -> the cell's result, as JupyterLab does it;
- when the kernel maps the driver JVM's class archive (kernels.jvm_archive), direct once more without it:
  pyspark as it starts on a box without the wizard's archive (the "before" of issue 15 item 4).

Usage (as root on an installed box; the password from a variable, never argv):
  JEGW_BENCH_PASSWORD=... python bench/spark_first_result.py --answers /var/lib/jeg-wizard/answers.toml \
      --user hubadmin --password-env JEGW_BENCH_PASSWORD [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import time

CODE = "spark.range(1000).count()"
DIRECT = (
    "from pyspark.sql import SparkSession\n"
    "spark = SparkSession.builder.getOrCreate()\n"
    f"print('RESULT', {CODE}, flush=True)\n"
    "spark.stop()\n"
)


def without_archive(env: dict) -> dict | None:
    """The kernel's environment without the JVM class archive (kernels.jvm_archive), or None: it has none."""
    args = shlex.split(env.get("PYSPARK_SUBMIT_ARGS", ""))
    if "--driver-java-options" not in args:
        return None
    i = args.index("--driver-java-options")
    if not args[i + 1].startswith("-XX:SharedArchiveFile="):
        return None
    return {**env, "PYSPARK_SUBMIT_ARGS": shlex.join(args[:i] + args[i + 2 :])}


def direct(kernel: dict, env: dict | None = None) -> float:
    """Process start -> the count printed, with the kernelspec's interpreter and environment."""
    env = {**os.environ, **(env or kernel["env"])}
    env.pop("PYTHONSTARTUP", None)  # the shell's startup makes its own session: ours is the script's
    t0 = time.perf_counter()
    p = subprocess.Popen(
        [kernel["argv"][0], "-c", DIRECT], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    for line in p.stdout:
        if line.startswith("RESULT"):
            took = time.perf_counter() - t0
            assert line.split()[1] == "1000", line
            p.wait(120)
            return took
    raise SystemExit(f"direct pyspark printed no result (exit {p.wait()})")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--answers", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password-env", required=True)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()

    from jeg_wizard import health
    from jeg_wizard.answers import load
    from jeg_wizard.layout import Layout

    L = Layout(load(args.answers))
    kernel = json.loads((L.kernel_dir / "kernel.json").read_text())
    if kernel["argv"][0].endswith("sudo") or "launch_as_user" in " ".join(kernel["argv"]):
        raise SystemExit("impersonation on: the direct side would not be the same process; bench a box without it")
    password = os.environ[args.password_env]
    verify = L.hub_verify
    if L.kernel_jvm_archive:  # right after an install its job may still be writing it: both sides map it
        from jeg_wizard.class_archive import driver_archive_key, wait_built

        print(f"the JVM class archive: {wait_built(L.kernel_jvm_archive, driver_archive_key(L), timeout=300)}")

    first = health.login_and_spark_job(L.hub_url, args.user, password, L.a.kernels.name, verify=verify)
    print(f"warm-up through the hub: {first.timings()}")
    hub, alone, plain = [], [], []
    bare = without_archive(kernel["env"])
    for i in range(args.runs):
        if bare:
            plain.append(direct(kernel, bare))
        alone.append(direct(kernel))
        s = health.login_and_spark_job(L.hub_url, args.user, password, L.a.kernels.name, verify=verify)
        hub.append(sum(s.phases[k] for k in ("kernel start", "kernel ready", "job")))
        bare_note = f"direct without the archive {plain[-1]:.2f} s, " if plain else ""
        print(f"run {i + 1}: {bare_note}direct {alone[-1]:.2f} s, through the hub {hub[-1]:.2f} s ({s.timings()})")
    d, h = statistics.median(alone), statistics.median(hub)
    if plain:
        p = statistics.median(plain)
        print(
            f"pyspark directly, without the JVM class archive {p:6.2f} s   {p / d:5.2f}x baseline (before the archive)"
        )
        print(f"through hub -> gateway vs that                  {h:6.2f} s   {h / p:5.2f}x")
    print(f"pyspark directly       {d:6.2f} s   (baseline, 1.00x)")
    print(
        f"through hub -> gateway {h:6.2f} s   {h / d:5.2f}x baseline   target <= 1.2x: {'met' if h <= 1.2 * d else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
