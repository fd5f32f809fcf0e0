"""Kernelspecs on disk: each kernel.json loads, has what its kind needs (a Spark kernel: SPARK_HOME,
JAVA_HOME, PYSPARK_PYTHON, pyspark and py4j on PYTHONPATH, PYTHONSTARTUP, PYSPARK_SUBMIT_ARGS, the
process proxy; Scala: Toree's jar and Spark; R: R and IRkernel) and what it names exists; each cause
with its own fix."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from .finding import Finding, ok, problem
from .install import Install

C = "kernels"


def launcher_problems(path: str) -> list[str]:
    """root runs the impersonation launcher: only root may be able to change it."""
    try:
        st = os.stat(path)
    except OSError:
        return [f"its launcher {path} is missing"]
    if st.st_uid != 0 or st.st_mode & 0o022:
        return [
            f"its launcher {path} (run by root) is writable by others (owner uid {st.st_uid}, "
            f"mode {stat.S_IMODE(st.st_mode):o})"
        ]
    return []


RERUN = "re-run the install (kernelspecs step writes it again)"


def _venv_of(program: str) -> Path | None:
    p = Path(program)
    return p.parent.parent if p.parent.name == "bin" and (p.parent.parent / "pyvenv.cfg").exists() else None


def _has_module(venv: Path, module: str) -> bool:
    return any(venv.glob(f"lib/python3*/site-packages/{module}"))


def _interpreter(path: str, key: str) -> tuple[str, str] | None:
    """A python the kernel runs: there, executable; the fix names the venv that holds it."""
    venv = str(Path(path).parent.parent) if Path(path).parent.name == "bin" else ""
    rebuild = f"the venv {venv} is gone or broken: re-run the install (kernelspecs step rebuilds it)"
    if not os.path.exists(path):
        return f"{key} {path} is missing", rebuild if venv else f"install {path} or point {key} elsewhere"
    if not os.access(path, os.X_OK):
        return f"{key} {path} is not executable (chmod +x {path})", f"chmod +x {path}"
    return None


def _pythonpath(entries: list[str]) -> list[tuple[str, str]]:
    """What makes `import pyspark` work in the kernel: pyspark and py4j, each reachable from PYTHONPATH."""
    out = []
    for entry in entries:
        if not os.path.exists(entry):
            out.append((f"PYTHONPATH entry {entry} does not exist", RERUN + " (after the spark step put Spark back)"))
    dirs = [e for e in entries if os.path.isdir(e)]
    if not any(os.path.exists(os.path.join(d, "pyspark", "__init__.py")) for d in dirs):
        out.append(
            (
                "PYTHONPATH has no pyspark (no entry holds pyspark/__init__.py): `spark` cannot be made",
                RERUN + "; PYTHONPATH must name $SPARK_HOME/python (or the pip Spark's directory)",
            )
        )
    py4j = any(e.endswith(".zip") and "py4j" in os.path.basename(e) and os.path.isfile(e) for e in entries) or any(
        os.path.isdir(os.path.join(d, "py4j")) for d in dirs
    )
    if not py4j:
        out.append(
            (
                "PYTHONPATH has no py4j (no py4j-*-src.zip, no py4j/ directory): pyspark cannot talk to the JVM",
                RERUN + "; PYTHONPATH must name $SPARK_HOME/python/lib/py4j-*-src.zip",
            )
        )
    return out


# where the distributions' R finds its packages (IRkernel from r-cran-irkernel: /usr/lib/R/site-library)
R_LIBRARIES = ("/usr/local/lib/R/site-library", "/usr/lib/R/site-library", "/usr/lib/R/library")


def _other_kernel(argv: list, language: str, env: dict) -> list[tuple[str, str]]:
    """Scala and R kernels: the program after the launcher's `--` (or argv itself), and what it loads."""
    program = [str(a) for a in (argv[argv.index("--") + 1 :] if "--" in argv else argv)]
    out = []
    if "--" in argv and program and not os.path.exists(program[0]):
        out.append((f"its program {program[0]} is missing", RERUN))
    if language == "scala":
        jars = [a for a in program if a.endswith(".jar")]
        if "org.apache.toree.Main" not in program or not jars:
            out.append(("its argv does not start Toree (org.apache.toree.Main and its jar)", RERUN))
        for jar in jars:
            if not os.path.isfile(jar):
                out.append((f"Toree's jar {jar} is missing", "re-run the install (kernelspecs step installs toree)"))
        if not env.get("SPARK_HOME"):
            out.append(("its env has no SPARK_HOME: spark-submit has no Spark", RERUN))
    if language == "r" and not any(os.path.isdir(os.path.join(lib, "IRkernel")) for lib in R_LIBRARIES):
        out.append(
            (
                f"IRkernel is not installed (not in {', '.join(R_LIBRARIES)})",
                "apt-get install r-cran-irkernel, or re-run the install (kernelspecs step)",
            )
        )
    return out


def spec_findings(k: dict, spark: bool) -> list[tuple[str, str]]:
    """(problem, its own fix) for one kernel.json; spark: what makes `spark` exist in a Python kernel is
    required too."""
    out: list[tuple[str, str]] = []
    argv = k.get("argv") if isinstance(k.get("argv"), list) and k.get("argv") else [""]
    prog = argv[0]
    if not prog:
        return [("it has no argv", RERUN)]
    language = str(k.get("language") or "").lower()
    if not os.path.exists(prog):
        venv = _venv_of(prog) or (Path(prog).parent.parent if Path(prog).parent.name == "bin" else None)
        out.append(
            (
                f"its program {prog} is missing",
                f"the venv {venv} is gone or broken: re-run the install (kernelspecs step rebuilds it)"
                if venv
                else f"install {prog}, or fix argv in kernel.json",
            )
        )
    elif not os.access(prog, os.X_OK):
        out.append((f"its program {prog} is not executable (chmod +x {prog})", f"chmod +x {prog}"))
    else:
        venv = _venv_of(prog)
        if venv and "ipykernel_launcher" in argv and not _has_module(venv, "ipykernel"):
            out.append(
                (
                    f"{venv} has no ipykernel: the kernel cannot start",
                    f"{venv}/bin/pip install ipykernel, or re-run the install (kernelspecs step)",
                )
            )
    if not any("{connection_file}" in str(arg) for arg in argv):
        out.append(("its argv does not pass {connection_file}: the gateway cannot connect to the kernel", RERUN))
    for arg in argv[1:]:
        if str(arg).endswith("/launch_as_user.py"):
            out += [(p, RERUN) for p in launcher_problems(arg)]
    env = k.get("env") if isinstance(k.get("env"), dict) else {}
    if language in ("scala", "r"):
        out += _other_kernel(argv, language, env)
        spark = False
    if spark and not (k.get("metadata") or {}).get("process_proxy", {}).get("class_name"):
        out.append(("it has no metadata.process_proxy.class_name: the gateway does not know how to launch it", RERUN))
    if spark:
        for key in ("SPARK_HOME", "JAVA_HOME", "PYSPARK_PYTHON", "PYTHONPATH", "PYTHONSTARTUP", "PYSPARK_SUBMIT_ARGS"):
            if not env.get(key):
                out.append((f"its env has no {key}: the kernel starts without `spark`", RERUN))
    if env.get("SPARK_HOME") and not os.path.exists(os.path.join(env["SPARK_HOME"], "bin/spark-submit")):
        out.append(
            (
                f"SPARK_HOME={env['SPARK_HOME']} has no bin/spark-submit",
                "Spark is gone from there: re-run the install (spark step), or set spark.home",
            )
        )
    if env.get("JAVA_HOME") and not os.path.exists(os.path.join(env["JAVA_HOME"], "bin/java")):
        out.append(
            (
                f"JAVA_HOME={env['JAVA_HOME']} has no bin/java",
                "Java is not there (a kernel with a broken JAVA_HOME starts but has no `spark`): re-run the "
                "install (java step installs it), or set java.home to a JDK that exists",
            )
        )
    if env.get("PYSPARK_PYTHON"):
        found = _interpreter(env["PYSPARK_PYTHON"], "PYSPARK_PYTHON")
        if found:
            out.append(found)
    if env.get("PYTHONSTARTUP") and not os.path.exists(env["PYTHONSTARTUP"]):
        out.append(
            (
                f"PYTHONSTARTUP={env['PYTHONSTARTUP']} does not exist (it makes `spark` at start)",
                RERUN + " (after the spark step put Spark back)",
            )
        )
    if env.get("PYTHONPATH"):
        entries = [e for e in env["PYTHONPATH"].split(":") if e]
        out += _pythonpath(entries) if spark else [(p, f) for p, f in _pythonpath(entries) if "entry" in p]
    args = env.get("PYSPARK_SUBMIT_ARGS", "")
    if spark and args and not (args.rstrip().endswith("pyspark-shell") and "--master" in args):
        out.append(
            (
                f"PYSPARK_SUBMIT_ARGS={args!r} lacks --master or does not end with pyspark-shell: Spark does not start",
                RERUN,
            )
        )
    return out


def check(site: Install) -> list[Finding]:
    root = Path(site.a.kernels.dir)
    specs = sorted(root.glob("*/kernel.json"))
    if not specs:
        return [problem(C, "kernelspecs", f"no kernelspec in {root}", "re-run the install (kernelspecs step)")]
    out = []
    for spec in specs:
        name = spec.parent.name
        try:
            k = json.loads(spec.read_text())
        except (OSError, ValueError) as e:
            out.append(problem(C, name, f"{spec} does not load: {e}", "re-run the install (kernelspecs step)"))
            continue
        if not isinstance(k, dict):
            out.append(problem(C, name, f"{spec} is not a JSON object", RERUN))
            continue
        spark = name == site.a.kernels.name or "SPARK_HOME" in (k.get("env") or {})
        found = spec_findings(k, spark)
        if found:
            fixes = list(dict.fromkeys(f for _, f in found))
            out.append(problem(C, name, "; ".join(p for p, _ in found), " | ".join(fixes)))
        else:
            what = {
                "scala": "spark-submit, Toree's jar, SPARK_HOME, JAVA_HOME",
                "r": "R and IRkernel" + (", SparkR" if "R_LIBS" in (k.get("env") or {}) else " (no Spark)"),
            }.get(str(k.get("language") or "").lower())
            if what is None:
                what = (
                    "program, SPARK_HOME, JAVA_HOME, pyspark and py4j on PYTHONPATH, PYTHONSTARTUP"
                    if spark
                    else "program"
                )
            out.append(ok(C, name, f"{k.get('display_name', name)}: {what} in place"))
    return out + archive(site)


def archive(site: Install) -> list[Finding]:
    """The driver JVM's class archive: a stale one is ignored by the JVM (kernels start slower, nothing breaks)."""
    from ..class_archive import archive_state, builder, driver_archive_key, failure

    archive = site.L.kernel_jvm_archive
    if archive is None or not site.L.runs("gateway"):
        return []
    try:
        state = archive_state(archive, driver_archive_key(site.L))
    except OSError as e:
        state = f"unreadable ({e.strerror})"
    if state == "current":
        return [
            ok(
                C,
                "jvm archive",
                f"the driver's class archive {archive} matches this java and Spark's jars (kernels map it)",
            )
        ]
    log = site.L.class_archive_log
    if state == "building":
        return [
            ok(
                C,
                "jvm archive",
                f"the driver's class archive {archive} is being written in the background, once the install has "
                f"ended (pid {builder(archive)}, output in {log}): kernels started before it is done start without it",
            )
        ]
    why = {
        "missing": "is missing",
        "stale": "no longer matches this java or Spark's jars",
        "failed": f"could not be written: {failure(archive)} (the job's output: {log})",
    }.get(state, state)
    return [
        problem(
            C,
            "jvm archive",
            f"the driver's class archive {archive} {why}: kernels start, about twice as slowly",
            "re-run the install (its Spark smoke job rebuilds it), or set kernels.jvm_archive = false",
            warning=True,
        )
    ]
