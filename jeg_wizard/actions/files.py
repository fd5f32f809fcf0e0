"""Files, managed blocks, directories and symlinks: written through the runner, journaled first."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .. import files, testhook
from .records import Op, Phase, Record, Undo, inside, journal_of, ours, record_new_dirs
from .users import user_ids


def _mode(path: Path) -> int | None:
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return None


def _owner(path: Path) -> list[int] | None:
    try:
        st = os.stat(path)
        return [st.st_uid, st.st_gid]
    except FileNotFoundError:
        return None


# ---------------------------------------------------------------- records


@dataclass
class FileRecord(Record):
    """A file we write: created, or replaced after a backup of the state before us."""

    path: str
    backup: str | None = None
    created: bool = False
    mode: int | None = None
    owner: list[int] | None = None
    scratch: str | None = None  # a download's .part file
    kind = "file"
    phase = Phase.FILES

    def undo(self, u: Undo) -> list[Op]:
        p = Path(self.path)
        if inside(p, u.state):
            return []  # goes with the state directory
        if self.created or not self.backup:
            if p.exists() or p.is_symlink():
                return [Op(f"delete {p} (created by the install)", lambda: u.runner.remove(p))]
            return []
        saved = Path(self.backup)
        if not saved.exists():
            return [Op(f"keep {p}: its backup {saved} is gone, so the original cannot be restored")]
        if files.read(p) == saved.read_bytes() and (self.mode is None or _mode(p) == self.mode):
            return []
        mode = self.mode if self.mode is not None else (_mode(p) or 0o644)
        owner = tuple(self.owner) if self.owner else None
        return [
            Op(
                f"restore {p} as it was before the install (from {saved})",
                lambda: u.runner.write(p, saved.read_bytes(), mode, owner),
            )
        ]


@dataclass
class BlockRecord(Record):
    """Our managed block in a file others own."""

    path: str
    backup: str | None = None
    created: bool = False
    mode: int | None = None
    owner: list[int] | None = None
    added_newline: bool = False  # the last line had no newline and ours went after it
    kind = "block"
    phase = Phase.BLOCKS

    def undo(self, u: Undo) -> list[Op]:
        p = Path(self.path)
        cur = files.read(p)
        if cur is None or files.BEGIN.encode() not in cur:
            return []
        new = files.remove_managed_block(cur.decode("utf-8"), self.added_newline)
        if self.created and not new:
            return [Op(f"delete {p} (created by the install, holds only our block)", lambda: u.runner.remove(p))]
        st = os.stat(p)
        return [
            Op(
                f"remove the jeg-wizard block from {p} (every other line kept as it is)",
                lambda: u.runner.write(p, new.encode(), st.st_mode & 0o7777, (st.st_uid, st.st_gid)),
            )
        ]


@dataclass
class DirRecord(Record):
    """A directory: created by us or not; software: a tree we fill (Spark, the proxy prefix)."""

    path: str
    created: bool = False
    software: bool = False
    scratch: str | None = None  # the temp tree it is built in
    kind = "dir"
    phase = Phase.SOFTWARE

    def key(self) -> tuple:
        return ("dir", self.path)  # a venv is a directory too: one record per path

    def merge(self, later: Record) -> Record:
        cls = type(later) if type(later) is not DirRecord else type(self)
        return cls(self.path, created=self.created or later.created, software=self.software or later.software)

    def undo(self, u: Undo) -> list[Op]:
        p = Path(self.path)
        if not self.software:
            if self.created and p != u.state and not inside(p, u.state):
                u.sweep.append(p)
            return []
        if inside(p, u.state) or not (p.exists() or p.is_symlink()):  # a venv's stable path is a symlink after upgrade
            return []
        if self.created and u.remove_software:
            return [Op(f"remove {p} (installed software)", lambda: u.runner.remove(p))]
        if self.created:
            return [Op(f"keep {p} (installed software; --remove-software removes it)")]
        return self.undo_foreign(u)

    def undo_foreign(self, u: Undo) -> list[Op]:
        return []  # a directory that was there before: kept as it is


@dataclass
class LinkRecord(Record):
    path: str
    target: str = ""
    previous: str | None = None  # where it pointed before us
    kind = "symlink"
    phase = Phase.LINKS

    def merge(self, later: Record) -> Record:
        return replace(self, target=later.target)  # the first's previous, the last's target

    def undo(self, u: Undo) -> list[Op]:
        p = Path(self.path)
        if p.is_symlink() and os.readlink(p) == self.target:
            if self.previous:
                return [Op(f"point symlink {p} back to {self.previous}", lambda: u.runner.symlink(p, self.previous))]
            return [Op(f"remove symlink {p} -> {self.target}", lambda: u.runner.remove(p))]
        if p.is_symlink() or p.exists():
            return [Op(f"keep {p}: it no longer points where the install set it")]
        return []


# ---------------------------------------------------------------- actions


@dataclass
class FileContent:
    path: Path
    content: str | Callable[[], str]  # callable: rendered lazily (e.g. needs a secret or a finished step)
    mode: int = 0o644
    secret: bool = False
    validate: Callable[[str], None] | None = None  # raises ValueError before anything is written
    owner: str | None = None  # a user name; None: root
    verify_only = False

    @property
    def title(self) -> str:
        return f"write {self.path}"

    def text(self) -> str:
        return self.content() if callable(self.content) else self.content

    def done(self, ctx) -> bool:
        old = files.read(self.path)
        if old != self.text().encode():
            return False
        st = os.stat(self.path)
        ids = user_ids(self.owner)
        return (st.st_mode & 0o7777) == self.mode and (ids is None or (st.st_uid, st.st_gid) == ids)

    def preview(self, ctx) -> list[str]:
        old = files.read(self.path)
        if self.secret:
            state = "unchanged" if old == self.text().encode() else ("replaced" if old is not None else "created")
            return [f"# {self.path}: secret file {state}, mode {self.mode:o} (content not shown)"]
        new = self.text()
        old_text = old.decode("utf-8", "replace") if old is not None else None
        diff = files.unified_diff(str(self.path), old_text, ctx.runner.redactor(new))
        if old_text is not None:
            diff = files.unified_diff(str(self.path), ctx.runner.redactor(old_text), ctx.runner.redactor(new))
        mode_note = []
        if old is not None and (os.stat(self.path).st_mode & 0o7777) != self.mode:
            mode_note = [f"# chmod {self.mode:o} {self.path}"]
        return ([diff] if diff else []) + mode_note

    def foreign(self, ctx) -> str | None:
        """Why this file must not be replaced: it exists, differs, and no run of ours wrote it."""
        if self.secret or ctx.answers.system.replace_existing_files:
            return None
        old = files.read(self.path)
        if old is None or old == self.text().encode():
            return None
        if any(isinstance(r, FileRecord) and r.path == str(self.path) for r in journal_of(ctx).records()):
            return None
        return (
            f"system.replace_existing_files: {self.path} exists and was not written by jeg-wizard; move it away, "
            f"or set system.replace_existing_files = true to replace it (the original is kept with a timestamp "
            f"in {ctx.layout.backups_dir} and put back by `jeg-wizard uninstall`)"
        )

    def apply(self, ctx) -> None:
        new = self.text()
        if self.validate:
            self.validate(new)
        why = self.foreign(ctx)
        if why:
            raise RuntimeError(why)
        record_new_dirs(ctx, self.path)
        ctx.journal.ensure()
        old_mode, old_owner = _mode(self.path), _owner(self.path)
        saved = ctx.runner.backup(self.path, ctx.layout.backups_dir)
        ctx.record(
            FileRecord(
                str(self.path),
                backup=str(saved) if saved else None,
                created=old_mode is None,
                mode=old_mode,
                owner=old_owner,
            )
        )
        testhook.pause(f"mid {self.title}")
        ctx.runner.write(self.path, new.encode(), self.mode, owner=user_ids(self.owner))


@dataclass
class FileGone:
    """A file of ours the answers no longer ask for (a kernelspec of a kernel turned off): backed up, then
    removed with its directory when that is left empty. A file no run of ours wrote is not touched."""

    path: Path
    verify_only = False

    @property
    def title(self) -> str:
        return f"remove {self.path} (no longer asked for)"

    def ours(self, ctx) -> bool:
        return any(isinstance(r, FileRecord) and r.path == str(self.path) for r in journal_of(ctx).records())

    def done(self, ctx) -> bool:
        return not self.path.exists() or not self.ours(ctx)

    def preview(self, ctx) -> list[str]:
        return [f"# rm {self.path} (a copy goes to {ctx.layout.backups_dir})"]

    def apply(self, ctx) -> None:
        ctx.runner.backup(self.path, ctx.layout.backups_dir)
        ctx.runner.remove(self.path)
        if self.path.parent.is_dir() and not any(self.path.parent.iterdir()):
            ctx.runner.remove(self.path.parent)


def secret_file(path: Path, value: Callable[[], str], owner: str | None = None) -> FileContent:
    return FileContent(path, lambda: value() + "\n", mode=0o600, secret=True, owner=owner)


@dataclass
class EnvBlock:
    """Our KEY=VALUE lines in a marked block of a file others own (/etc/environment)."""

    path: Path
    variables: Callable[[str], dict[str, str]]  # gets the text outside our block (for PATH)
    verify_only = False

    @property
    def title(self) -> str:
        return f"managed block in {self.path}"

    def _new(self) -> tuple[str | None, str]:
        raw = files.read(self.path)
        old = raw.decode("utf-8") if raw is not None else None
        outside = files.without_managed_block(old or "")
        lines = [f'{k}="{v}"' for k, v in self.variables(outside).items()]
        return old, files.with_managed_block(old or "", lines)

    def done(self, ctx) -> bool:
        old, new = self._new()
        return old == new

    def preview(self, ctx) -> list[str]:
        old, new = self._new()
        return [files.unified_diff(str(self.path), old, new)]

    def apply(self, ctx) -> None:
        old, new = self._new()
        mode = _mode(self.path) if old is not None else 0o644
        record_new_dirs(ctx, self.path)
        ctx.journal.ensure()
        saved = ctx.runner.backup(self.path, ctx.layout.backups_dir)
        ctx.record(
            BlockRecord(
                str(self.path),
                backup=str(saved) if saved else None,
                created=old is None,
                mode=mode,
                owner=_owner(self.path),
                added_newline=bool(old) and files.BEGIN not in old and not old.endswith("\n"),
            )
        )
        testhook.pause(f"mid {self.title}")
        ctx.runner.write(self.path, new.encode(), mode)


@dataclass
class Directory:
    path: Path
    mode: int = 0o755
    owner: str | None = None
    verify_only = False

    @property
    def title(self) -> str:
        return f"directory {self.path} ({self.mode:o}{', ' + self.owner if self.owner else ''})"

    def done(self, ctx) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        if not ours(ctx, DirRecord, self.path):
            return True  # a directory we did not create keeps its mode and owner: nothing to do
        ids = user_ids(self.owner)
        return (st.st_mode & 0o7777) == self.mode and (ids is None or (st.st_uid, st.st_gid) == ids)

    def preview(self, ctx) -> list[str]:
        return [f"# mkdir -p -m {self.mode:o} {self.path}" + (f" && chown {self.owner}" if self.owner else "")]

    def apply(self, ctx) -> None:
        if not self.path.exists():
            record_new_dirs(ctx, self.path)
            ctx.record(DirRecord(str(self.path), created=True))
            ctx.runner.mkdir(self.path, self.mode)
        elif not ours(ctx, DirRecord, self.path):
            return  # never change the mode or owner of a directory we did not create
        ctx.runner.chmod(self.path, self.mode)  # mkdir's mode passes through the umask
        ids = user_ids(self.owner)
        if ids:
            ctx.runner.chown(self.path, ids)


@dataclass
class Symlink:
    link: Path
    target: Path
    verify_only = False

    @property
    def title(self) -> str:
        return f"symlink {self.link} -> {self.target}"

    def done(self, ctx) -> bool:
        return self.link.is_symlink() and os.readlink(self.link) == str(self.target)

    def preview(self, ctx) -> list[str]:
        return [f"# ln -sfn {self.target} {self.link}"]

    def apply(self, ctx) -> None:
        if self.link.exists() and not self.link.is_symlink():
            raise RuntimeError(
                f"{self.link} exists and is not a symlink; move it away or set spark.home to another path"
            )
        record_new_dirs(ctx, self.link)
        ctx.record(
            LinkRecord(
                str(self.link),
                target=str(self.target),
                previous=os.readlink(self.link) if self.link.is_symlink() else None,
            )
        )
        ctx.runner.symlink(self.link, self.target)
