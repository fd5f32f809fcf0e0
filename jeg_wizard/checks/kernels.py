"""Kernelspecs on disk: each kernel.json loads, and what it names exists (program, launcher, Spark,
Java, python paths)."""

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


def spec_problems(k: dict) -> list[str]:
    problems = []
    argv = k.get("argv") or [""]
    prog = argv[0]
    if not os.path.exists(prog):
        problems.append(f"its program {prog} is missing")
    elif not os.access(prog, os.X_OK):
        problems.append(f"its program {prog} is not executable (chmod +x {prog})")
    for arg in argv[1:]:
        if arg.endswith("/launch_as_user.py"):
            problems += launcher_problems(arg)
    env = k.get("env", {})
    for key, sub in (("SPARK_HOME", "bin/spark-submit"), ("JAVA_HOME", "bin/java")):
        if key in env and not os.path.exists(os.path.join(env[key], sub)):
            problems.append(f"{key}={env[key]} has no {sub}")
    for key in ("PYSPARK_PYTHON", "PYTHONSTARTUP"):
        if key in env and not os.path.exists(env[key]):
            problems.append(f"{key}={env[key]} does not exist")
    for entry in filter(None, env.get("PYTHONPATH", "").split(":")):
        if not os.path.exists(entry):
            problems.append(f"PYTHONPATH entry {entry} does not exist")
    return problems


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
        problems = spec_problems(k) if isinstance(k, dict) else ["it is not a JSON object"]
        if problems:
            out.append(
                problem(
                    C,
                    name,
                    "; ".join(problems),
                    f"fix {spec} (or re-run the install); a kernel with a broken JAVA_HOME starts but has no `spark`",
                )
            )
        else:
            out.append(
                ok(C, name, f"{k.get('display_name', name)}: program, SPARK_HOME, JAVA_HOME, python paths exist")
            )
    return out
