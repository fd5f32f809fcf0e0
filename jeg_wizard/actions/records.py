"""What an action writes in the journal before its effect, and how that effect is undone.

One dataclass per kind of record: its fields are the journal's keys (spelled only there), `phase`
says when uninstall undoes it, `undo` what it runs then. Uninstall folds the records per thing
(the first backup of a file, the last target of a link...) and undoes them phase by phase.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:  # typing only
    from ..engine import Context
    from ..layout import Layout
    from ..runner import Runner


class Phase(IntEnum):
    """The order of the undo: nothing runs that could use what an earlier phase takes away."""

    SERVICES = 1
    FILES = 2
    BLOCKS = 3
    LINKS = 4
    LEFTOVERS = 5  # temp trees and partial downloads of interrupted runs
    SOFTWARE = 6  # Spark, venvs, the proxy prefix; plain directories go last, when empty
    USERS = 7
    PACKAGES = 8


@dataclass
class Op:
    line: str  # what is (or would be) done, for the operator
    do: Callable[[], None] | None = None  # None: only said (kept, nothing to do)


@dataclass
class Undo:
    """What every record's undo may use; `sweep` collects the directories to remove last, when empty."""

    layout: Layout
    runner: Runner
    emit: Callable[[str], None] = print
    remove_users: bool = False
    remove_software: bool = False
    remove_packages: bool = False
    sweep: list[Path] = field(default_factory=list)

    @property
    def state(self) -> Path:
        return self.layout.state_dir


KINDS: dict[str, type[Record]] = {}


class Record:
    """Base of every record kind (subclasses are dataclasses)."""

    kind: ClassVar[str] = ""  # the journal's "kind"; empty: derived while folding, never written
    phase: ClassVar[Phase]

    def __init_subclass__(cls, **kw) -> None:
        super().__init_subclass__(**kw)
        if cls.__dict__.get("kind"):
            KINDS[cls.kind] = cls

    def entry(self) -> dict:
        return {"kind": self.kind, **asdict(self)}

    @classmethod
    def from_entry(cls, e: dict) -> Record:
        return cls(**{f.name: e[f.name] for f in fields(cls) if f.name in e})

    def key(self) -> tuple:
        """What records about the same thing share (folded into one)."""
        return (self.kind, str(self.path))

    def merge(self, later: Record) -> Record:
        return self  # the first says how it was before us

    def sort_key(self) -> tuple:
        return self.key()[1:]

    def parts(self) -> list[Record]:
        scratch = getattr(self, "scratch", None)
        return [self, Leftover(scratch)] if scratch else [self]

    def undo(self, u: Undo) -> list[Op]:
        return []


@dataclass
class Leftover(Record):
    """A temp tree or partial file an interrupted run may have left (the `scratch` of a record)."""

    path: str
    phase = Phase.LEFTOVERS

    def key(self) -> tuple:
        return ("scratch", self.path)

    def undo(self, u: Undo) -> list[Op]:
        p = Path(self.path)
        if (p.exists() or p.is_symlink()) and not inside(p, u.state):
            return [Op(f"remove {p} (left by an interrupted install)", lambda: u.runner.remove(p))]
        return []


def from_entry(e: dict) -> Record | None:
    """The record a journal line holds; None for notes and kinds this release does not know."""
    cls = KINDS.get(e.get("kind") or "")
    try:
        return cls.from_entry(e) if cls else None
    except (TypeError, ValueError):  # a line missing what its kind needs: as unreadable as a cut one
        return None


def fold(records: list[Record]) -> list[Record]:
    """One record per thing, in the order each first appeared."""
    out: dict[tuple, Record] = {}
    for rec in records:
        for r in rec.parts():
            k = r.key()
            out[k] = out[k].merge(r) if k in out else r
    return list(out.values())


def inside(path: str | Path, root: Path) -> bool:
    try:
        Path(path).relative_to(root)
        return True
    except ValueError:
        return False


# ------------------------------------------------------------------ the journal from an action's side


def journal_of(ctx: Context):
    """The journal earlier runs wrote: a dry run writes none, but what they did still counts."""
    if ctx.journal.path is None:
        from ..engine import Journal

        return Journal(ctx.layout.state_dir / "journal.jsonl")
    return ctx.journal


def ours(ctx: Context, cls: type[Record], path: Path) -> bool:
    """The journal says an earlier run of ours created this path."""
    return any(type(r) is cls and r.path == str(path) and r.created for r in journal_of(ctx).records())


def record_new_dirs(ctx: Context, path: Path) -> None:
    """Journal the ancestors of path that do not exist yet (what a mkdir -p is about to create)."""
    from .files import DirRecord

    missing = []
    p = Path(path).parent
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        ctx.record(DirRecord(str(d), created=True))


def argv_line(ctx: Context, argv: list[str], stdin_note: str = "") -> str:
    return f"$ {ctx.runner.show(argv)}{stdin_note}"
