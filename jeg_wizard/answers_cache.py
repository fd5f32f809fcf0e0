"""The answers as last validated, for the commands that only read them (`status --json`, `doctor`): the
answers model (pydantic) takes longer to import than such a command's whole run, so the values it gave
for the same file are read back from a cache instead.

One source of truth: the cache holds what `answers.load` returned for that file (every value, the
defaults filled in, the sections' computed properties), written right after a full validation; its key
covers what that validation reads: the file's bytes and mode, the answers code (answers.py, values.py,
distro.py, this file) and this wizard's version, the python, and the distribution (/etc/os-release).
No cache, another key, or a cache that cannot be read or written: the full `answers.load` (errors as
always), which then writes the cache. What the key leaves out: a file the answers name (spark.tarball,
the TLS files) removed since; the checks look at those files themselves.

The cache: $XDG_CACHE_HOME/jeg-wizard (default ~/.cache/jeg-wizard), one 0600 file per answers path, in
a 0700 directory; it holds no secret (the answers never do). Stdlib only."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys

FORMAT = 1
CODE = ("answers.py", "values.py", "distro.py", "answers_base.py", "answers_cache.py")
COMPUTED = "@computed"  # a section's properties (Site.split), kept beside its fields


class Section:
    """One validated section (or the whole answers), read-only: its fields and computed properties as
    attributes; an optional section left out is None, as on the model."""

    __slots__ = ("_values",)

    def __init__(self, values: dict):
        object.__setattr__(self, "_values", values)

    def __getattr__(self, name: str):
        values = object.__getattribute__(self, "_values")
        if name in values and name != COMPUTED:
            v = values[name]
            return Section(v) if isinstance(v, dict) and COMPUTED in v else v
        computed = values.get(COMPUTED, {})
        if name in computed:
            return computed[name]
        raise AttributeError(name)

    def __setattr__(self, name: str, value) -> None:
        raise TypeError("the validated answers are read-only")

    def __eq__(self, other) -> bool:
        return isinstance(other, Section) and self._values == other._values

    def __hash__(self) -> int:
        return hash(json.dumps(self._values, sort_keys=True))

    def __repr__(self) -> str:
        return f"Section({self.model_dump()!r})"

    def model_dump(self) -> dict:
        """The fields as plain data, as the model's model_dump() gives them."""
        return _fields(self._values)


def _fields(values: dict) -> dict:
    return {
        k: (_fields(v) if isinstance(v, dict) and COMPUTED in v else json.loads(json.dumps(v)))
        for k, v in values.items()
        if k != COMPUTED
    }


def cache_dir() -> str | None:
    """$XDG_CACHE_HOME/jeg-wizard (~/.cache/jeg-wizard); None when there is no absolute one, or when it
    is not this user's alone (`sudo` keeping a user's HOME: root never reads what another account wrote)."""
    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(home):
        return None
    where = os.path.join(home, "jeg-wizard")
    try:
        st = os.lstat(where)
    except FileNotFoundError:
        return where  # made 0700 by the first write
    except OSError:
        return None
    return where if _ours(st) and stat.S_ISDIR(st.st_mode) else None


def _ours(st: os.stat_result) -> bool:
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022


def read_private(where: str) -> bytes | None:
    """A cache file's bytes when this user wrote it (owner, not group- or world-writable), else None."""
    try:
        fd = os.open(where, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not (stat.S_ISREG(st.st_mode) and _ours(st)) or st.st_size > 1 << 22:
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def cache_file(path: str) -> str | None:
    where = cache_dir()
    if where is None:
        return None
    name = hashlib.sha256(os.path.realpath(path).encode(errors="surrogateescape")).hexdigest()[:32]
    return os.path.join(where, f"answers-{name}.json")


def write_private(where: str, text: str) -> None:
    """Atomically, 0600 in a 0700 directory of this user's; OSError when it cannot."""
    os.makedirs(os.path.dirname(where), mode=0o700, exist_ok=True)
    if not _ours(os.lstat(os.path.dirname(where))):
        raise PermissionError(f"{os.path.dirname(where)} is not this user's alone")
    tmp = f"{where}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, where)


def _read(path: str) -> tuple[bytes, int] | None:
    """The file's bytes and mode when it is a plain regular file of sane size (anything else: the full
    load names the problem)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except (OSError, ValueError):
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 1 << 20:
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks), stat.S_IMODE(st.st_mode)
    except OSError:
        return None
    finally:
        os.close(fd)


def key(raw: bytes, mode: int) -> str:
    """What a validation of these bytes depends on."""
    from . import __version__

    h = hashlib.sha256(f"{FORMAT} {__version__} {sys.version} {mode:o}\n".encode())
    here = os.path.dirname(os.path.abspath(__file__))
    for name in CODE:
        try:
            st = os.stat(os.path.join(here, name))
            h.update(f"{name} {st.st_size} {st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{name} -\n".encode())
    try:
        with open("/etc/os-release", "rb") as f:
            h.update(f.read(1 << 16))
    except OSError:
        h.update(b"no os-release\n")
    h.update(b"\0")
    h.update(raw)
    return h.hexdigest()


def dump(model) -> dict:
    """A validated model as cache data: its fields, and its sections' properties under COMPUTED."""
    out: dict = {}
    for name in type(model).model_fields:
        v = getattr(model, name)
        out[name] = dump(v) if hasattr(type(v), "model_fields") else v
    out[COMPUTED] = {
        name: getattr(model, name)
        for cls in type(model).__mro__
        if cls.__module__ == type(model).__module__
        for name, attr in vars(cls).items()
        if isinstance(attr, property)
    }
    return out


def load(path: str):
    """The validated answers of `path`: from the cache when its key still holds, else `answers.load`
    (AnswersError as always), whose result is cached for the next time."""
    seen = _read(path)
    where = cache_file(path)
    want = key(*seen) if seen else None
    if want and where:
        try:
            cached = json.loads(read_private(where) or b"{}")
            if cached.get("key") == want:
                return Section(cached["answers"])
        except (ValueError, AttributeError, TypeError):
            pass
    from .answers import load as validate

    a = validate(path)
    if want and where and _read(path) == seen:  # the bytes validated are the ones keyed
        _write(where, want, a)
    return a


def _prune(where: str, days: float = 30) -> None:
    """The caches of answers files not read for a month (a file since deleted, a bench's temporary copy)."""
    import time

    old = time.time() - days * 86400
    for name in os.listdir(where):
        path = os.path.join(where, name)
        if name.startswith("answers-") and os.lstat(path).st_atime < old and os.lstat(path).st_mtime < old:
            os.unlink(path)


def _write(where: str, want: str, a) -> None:
    """Best effort: a value JSON cannot carry exactly (a tuple, a set) means no cache, not another value."""
    try:
        data = dump(a)
        text = json.dumps({"key": want, "answers": data})
        if json.loads(text)["answers"] != data:
            return
        write_private(where, text)
        _prune(os.path.dirname(where))
    except (OSError, TypeError, ValueError):
        pass
