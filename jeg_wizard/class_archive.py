"""The kernels' JVM class-data archive (CDS): Spark's driver JVM maps the ~13,000 classes it loads at start
from one file instead of reading and verifying them from the jars, which halves a kernel's start.

The archive holds what one JVM build loaded from one class path: it is valid for that java, that base
archive and those jars only (a JVM given a stale one warns and runs without it). So its key, a digest of
those inputs read from files (no program runs), sits beside it. Stdlib only: the doctor and status read it.
"""

from __future__ import annotations

import hashlib
import os
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


def archive_state(archive: Path, key: str) -> str:
    """ "current", "missing" or "stale" (the java, its base archive, Spark's jars or the options changed)."""
    if not archive.exists():
        return "missing"
    try:
        return "current" if key_file(archive).read_text().strip() == key else "stale"
    except OSError:
        return "stale"
