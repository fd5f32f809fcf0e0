"""Atomic file edits with backups, and the managed block we own inside files we do not."""

from __future__ import annotations

import difflib
import os
import re
import tempfile
import time
from pathlib import Path

from . import testhook

BEGIN = "# BEGIN jeg-wizard managed block: edits inside are overwritten"
END = "# END jeg-wizard managed block"


def read(path: str | Path) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        return None


def atomic_write(path: str | Path, data: bytes, mode: int = 0o644, owner: tuple[int, int] | None = None) -> None:
    """Temp file in the same directory with the final mode, fsync, rename: never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        if owner:
            os.fchown(fd, *owner)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        testhook.pause(f"rename {path}")
        os.replace(tmp, path)
        dfd = os.open(path.parent, os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def remove_stale_temps(path: str | Path) -> list[Path]:
    """Temp files an atomic_write of path left when it was killed before its rename."""
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.[a-z0-9_]{{8}}\.tmp$")
    gone = []
    try:
        names = os.listdir(path.parent)
    except OSError:
        return gone
    for name in names:
        if pattern.match(name):
            try:
                os.unlink(path.parent / name)
                gone.append(path.parent / name)
            except FileNotFoundError:
                pass
    return gone


def backup(path: str | Path, backup_root: str | Path) -> Path | None:
    """Copy what is at path (if anything) under backup_root, keeping its mode; return the copy."""
    path = Path(path)
    old = read(path)
    if old is None:
        return None
    stamp = time.strftime("%Y%m%dT%H%M%S")
    dest = Path(backup_root) / f"{str(path).lstrip('/')}.{stamp}"
    n = 1
    while dest.exists():
        dest = dest.with_name(f"{dest.name}.{n}")
        n += 1
    atomic_write(dest, old, mode=0o600)  # backups may hold secrets: root only
    return dest


def with_managed_block(current: str, block_lines: list[str]) -> str:
    """Replace our block (or append it), keeping every other byte of the file as it was."""
    block = "\n".join([BEGIN, *block_lines, END]) + "\n"
    start = current.find(BEGIN)
    if start != -1:
        end = current.find(END, start)
        if end != -1:
            end += len(END)
            if current[end : end + 1] == "\n":
                end += 1
            return current[:start] + block + current[end:]
    if current and not current.endswith("\n"):
        current += "\n"
    return current + block


def without_managed_block(current: str) -> str:
    start = current.find(BEGIN)
    end = current.find(END, start)
    if start == -1 or end == -1:
        return current
    end += len(END)
    if current[end : end + 1] == "\n":
        end += 1
    return current[:start] + current[end:]


def remove_managed_block(current: str, added_newline: bool = False) -> str:
    """Our block out, every other byte kept; when installing it had to add a newline to a last
    line without one (added_newline) and the block is still the end of the file, that goes too."""
    start = current.find(BEGIN)
    end = current.find(END, start)
    if start == -1 or end == -1:
        return current
    out = without_managed_block(current)
    at_end = out[start:] == ""
    if added_newline and at_end and out.endswith("\n"):
        out = out[:-1]
    return out


def unified_diff(path: str, old: str | None, new: str) -> str:
    lines = difflib.unified_diff(
        (old or "").splitlines(keepends=True),
        new.splitlines(keepends=True),
        fromfile=f"{path} (now)" if old is not None else "/dev/null",
        tofile=f"{path} (planned)",
    )
    return "".join(lines)
