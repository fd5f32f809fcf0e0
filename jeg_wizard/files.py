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
    """Temp file in the same directory with the final mode, fsync, rename: never half-written. A symlink
    that root (or we) made is written through (an /etc/environment kept elsewhere stays a link)."""
    path = Path(path)
    if path.is_symlink() and path.lstat().st_uid in (0, os.geteuid()):
        path = Path(os.path.realpath(path))
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


def _outside(current: str) -> tuple[list[str], int | None]:
    """The file's lines outside our blocks, and the index in them where the first block was (None: no block).
    A hand edit may have left two blocks, a BEGIN with no END or an END alone: each block, and each stray
    marker line, goes (a stray BEGIN's lines stay: nothing says they are ours)."""
    lines = current.splitlines(keepends=True)
    keep: list[str] = []
    at = None
    i = 0
    while i < len(lines):
        mark = lines[i].strip()
        if mark == BEGIN:
            at = len(keep) if at is None else at
            nxt = next((j for j in range(i + 1, len(lines)) if lines[j].strip() in (BEGIN, END)), None)
            i = nxt + 1 if nxt is not None and lines[nxt].strip() == END else i + 1
        elif mark == END:
            i += 1
        else:
            keep.append(lines[i])
            i += 1
    return keep, at


def with_managed_block(current: str, block_lines: list[str]) -> str:
    """Our block in place of the first one there (or appended), keeping every other byte of the file."""
    block = "\n".join([BEGIN, *block_lines, END]) + "\n"
    keep, at = _outside(current)
    if at is not None:
        return "".join(keep[:at]) + block + "".join(keep[at:])
    text = "".join(keep)
    return text + ("\n" if text and not text.endswith("\n") else "") + block


def without_managed_block(current: str) -> str:
    return "".join(_outside(current)[0])


def remove_managed_block(current: str, added_newline: bool = False) -> str:
    """Our block out, every other byte kept; when installing it had to add a newline to a last
    line without one (added_newline) and the block is still the end of the file, that goes too."""
    keep, at = _outside(current)
    out = "".join(keep)
    if added_newline and at == len(keep) and out.endswith("\n"):
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
