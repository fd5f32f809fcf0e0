"""The kernels' JVM class-data archive (CDS): Spark's driver JVM maps the ~13,000 classes it loads at start
from one file instead of reading and verifying them from the jars, which halves a kernel's start.

The archive holds what one JVM build loaded from one class path: it is valid for that java, that base
archive and those jars only (a JVM given a stale one warns and runs without it). So its key, a digest of
those inputs read from files (no program runs), sits beside it. Stdlib only: the doctor and status read it.

`python -m jeg_wizard.class_archive JOB.json` is the job that writes it (actions/jvm.py starts it): it runs
the Spark job with the JVM writing its classes at exit, checks the job's output, and renames the archive
into place. It holds <archive>.lock while it works (its pid inside), so status, the doctor and a re-run
see it building; a failure leaves no archive and its reason in <archive>.failed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import time
from pathlib import Path

# quiet: dumping names every class it skips (signed jars, old class versions) as a warning
WRITE_OPTION = "-XX:ArchiveClassesAtExit={path} -Xlog:cds=off,cds+dynamic=off"


def archive_key(java_home: Path, spark_home: Path, options: str) -> str:
    """What the archive depends on: the JVM build, its base archive, Spark's jars and the driver's options."""
    h = hashlib.sha256()
    h.update(f"options {options}\n".encode())
    release = java_home / "release"
    h.update(release.read_bytes() if release.exists() else b"no release file\n")
    for f in (java_home / "lib" / "server" / "libjvm.so", java_home / "lib" / "server" / "classes.jsa"):
        st = os.stat(f) if f.exists() else None
        h.update(f"{f.name} {st.st_size if st else '-'} {st.st_mtime_ns if st else '-'}\n".encode())
    jars = spark_home / "jars"
    for jar in sorted(jars.iterdir()) if jars.is_dir() else []:
        h.update(f"{jar.name} {jar.stat().st_size}\n".encode())
    return h.hexdigest()


def driver_archive_key(layout) -> str:
    """The key of the kernels' archive (Layout.kernel_jvm_archive), as steps/spark_smoke.py builds it."""
    return archive_key(layout.java_home, layout.spark_home, f"--driver-memory {layout.a.spark.driver_memory}")


def key_file(archive: Path) -> Path:
    return archive.with_name(archive.name + ".key")


def sidecar(archive: Path, suffix: str) -> Path:
    """<archive>.partial (being written), .lock (held by the job), .failed (why the last job failed), .job.json"""
    return archive.with_name(archive.name + suffix)


def builder(archive: Path) -> int | None:
    """The pid of the job writing the archive now (0 when it has not written it yet), or None."""
    try:
        fd = os.open(sidecar(archive, ".lock"), os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None  # nobody holds it
    except BlockingIOError:
        try:
            return int(os.read(fd, 32).split()[0])
        except (ValueError, IndexError):
            return 0
    finally:
        os.close(fd)


def failure(archive: Path) -> str:
    try:
        return sidecar(archive, ".failed").read_text().strip()
    except OSError:
        return ""


def archive_state(archive: Path, key: str) -> str:
    """ "current"; "building" (a job is writing it); "failed" (the last job did: `failure`); "missing" or
    "stale" (the java, its base archive, Spark's jars or the options changed)."""
    try:
        if archive.exists() and key_file(archive).read_text().strip() == key:
            return "current"
    except OSError:
        pass
    if builder(archive) is not None:
        return "building"
    if sidecar(archive, ".failed").exists():
        return "failed"
    return "stale" if archive.exists() else "missing"


def wait_built(archive: Path, key: str, timeout: float = 300) -> str:
    """The archive's state once no job is writing it (or "building" after timeout seconds)."""
    deadline = time.monotonic() + timeout
    while (state := archive_state(archive, key)) == "building" and time.monotonic() < deadline:
        time.sleep(0.5)
    return state


def stop_builder(archive: Path) -> bool:
    """Stop the job writing the archive, with its JVM (its process group); True when one was running."""
    pid = builder(archive)
    if not pid:
        return False
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + 10
    while builder(archive) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    return True


def run_job(spec: dict) -> int:
    """The archive's job (JOB.json's spec: archive, argv, env, key, expect [title, text], wait, idle, after);
    its output on stdout, its verdict last."""
    import subprocess  # the job's alone: status and the doctor read the state above
    import sys
    import threading

    archive = Path(spec["archive"])
    tmp = sidecar(archive, ".partial")
    lock = os.open(sidecar(archive, ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | (0 if spec.get("wait") else fcntl.LOCK_NB))
    except BlockingIOError:
        print(f"another job is writing {archive} (pid {builder(archive)}): leaving it to that one", flush=True)
        return 0
    os.ftruncate(lock, 0)
    os.write(lock, f"{os.getpid()}\n".encode())
    if spec.get("idle"):  # CPU only when nothing else wants it: the install and the kernels go first
        os.nice(19)
        try:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        except (AttributeError, OSError):
            pass
    after = spec.get("after")  # the install's lock: its steps and health go first, then this job
    if after and os.path.exists(after):
        print(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} waiting for the install to finish ({after})", flush=True)
        fd = os.open(after, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_SH)
        os.close(fd)
    failed = sidecar(archive, ".failed")
    failed.unlink(missing_ok=True)
    tmp.unlink(missing_ok=True)
    print(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} writing {archive}", flush=True)
    title, expect = spec.get("expect") or ("", "")
    proc = subprocess.Popen(
        spec["argv"],
        env={**os.environ, **spec["env"]},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    timer = threading.Timer(float(spec.get("timeout", 900)), proc.kill)
    timer.start()
    held = not expect
    for raw in proc.stdout:
        line = raw.decode(errors="replace")
        held = held or expect in line
        sys.stdout.write(line)
        sys.stdout.flush()
    rc = proc.wait()
    timer.cancel()
    if rc != 0 or not held:
        why = f"{title}: expected '{expect}' from the job (exit {rc})" if expect else f"the job exited with {rc}"
    elif not tmp.exists() or tmp.stat().st_size == 0:
        why = (
            f"the driver JVM ran the job but wrote no class archive at {tmp}: this java cannot write one "
            "(it needs OpenJDK 13 or later); set kernels.jvm_archive = false"
        )
    else:
        os.chmod(tmp, 0o644)  # kernels run as the gateway's user, or as each hub user
        os.replace(tmp, archive)
        kf = sidecar(key_file(archive), ".partial")
        kf.write_text(spec["key"] + "\n")
        os.chmod(kf, 0o644)
        os.replace(kf, key_file(archive))
        print(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} wrote {archive} (kernels map it from their next start)")
        return 0
    tmp.unlink(missing_ok=True)
    failed.write_text(why + "\n")
    print(f"error: {why}", flush=True)
    return 1


if __name__ == "__main__":
    import json
    import sys

    sys.exit(run_job(json.loads(Path(sys.argv[1]).read_text())))
