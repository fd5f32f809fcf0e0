"""The small closed set of typed actions steps are made of.

Each says how it knows its end state already holds (`done`), what it would do (`preview`:
argv lines and unified diffs, secrets masked) and does it (`apply`) through the runner.
"""
from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import shlex

from . import files, testhook

if False:  # typing only; engine imports us
    from .engine import Context


def _argv_line(ctx: "Context", argv: list[str], stdin_note: str = "") -> str:
    return f"$ {ctx.runner.show(argv)}{stdin_note}"


# Journal first, then change: an action records what it is about to do before doing it, so a
# kill at any point still leaves uninstall (and the next run) the full story.

def _record_new_dirs(ctx: "Context", path: Path) -> None:
    """Journal the ancestors of path that do not exist yet (what a mkdir -p is about to create)."""
    missing = []
    p = Path(path).parent
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        ctx.record(kind="dir", path=str(d), created=True)


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


def _ours(ctx: "Context", kind: str, path: Path) -> bool:
    """The journal says an earlier run of ours created this path."""
    journal = ctx.journal
    if journal.path is None:  # a dry run journals nothing, but what earlier runs did still counts
        from .engine import Journal
        journal = Journal(ctx.layout.state_dir / "journal.jsonl")
    return any(e.get("kind") == kind and e.get("path") == str(path) and e.get("created")
               for e in journal.entries())


# ---------------------------------------------------------------- packages


def dpkg_installed(ctx: "Context", pkgs: list[str]) -> list[str]:
    """The subset of pkgs dpkg reports installed."""
    r = ctx.runner.probe(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *pkgs])
    return [ln.split()[0] for ln in r.output if ln.endswith(" installed")]


@dataclass
class AptInstall:
    packages: list[str]
    verify_only = False

    @property
    def title(self) -> str:
        return f"apt install {' '.join(self.packages)}"

    def missing(self, ctx) -> list[str]:
        have = set(dpkg_installed(ctx, self.packages))
        return [p for p in self.packages if p not in have]

    def done(self, ctx) -> bool:
        return not self.missing(ctx)

    def argv(self, ctx) -> list[str]:
        return ["apt-get", "install", "-y", "-q", "--no-install-recommends", *(self.missing(ctx) or self.packages)]

    def preview(self, ctx) -> list[str]:
        return [_argv_line(ctx, self.argv(ctx))]

    def apply(self, ctx) -> None:
        from .runner import CommandFailed

        missing = self.missing(ctx)
        ctx.record(kind="packages", installed=missing)
        env = {"DEBIAN_FRONTEND": "noninteractive"}
        try:
            ctx.runner.run(self.argv(ctx), env=env)
        except CommandFailed as e:  # an apt killed half-way: dpkg wants its interrupted work finished first
            if "dpkg --configure -a" not in "\n".join(e.tail):
                raise
            ctx.runner.run(["dpkg", "--configure", "-a"], env=env)
            ctx.runner.run(self.argv(ctx), env=env)


@dataclass
class AptUpdate:
    needed: list[str]  # packages later steps install: no need to refresh lists when all are there
    upgrade: bool = False
    verify_only = False

    @property
    def title(self) -> str:
        return "apt-get update" + (" && apt-get upgrade" if self.upgrade else "")

    def done(self, ctx) -> bool:
        if self.upgrade:
            stamp = ctx.layout.state_dir / "apt-upgraded"
            return stamp.exists() and time.time() - stamp.stat().st_mtime < 86400
        return len(dpkg_installed(ctx, self.needed)) == len(set(self.needed))

    def commands(self) -> list[list[str]]:
        cmds = [["apt-get", "update", "-q"]]
        if self.upgrade:
            cmds.append(["apt-get", "upgrade", "-y", "-q"])
        return cmds

    def preview(self, ctx) -> list[str]:
        return [_argv_line(ctx, c) for c in self.commands()]

    def apply(self, ctx) -> None:
        for c in self.commands():
            ctx.runner.run(c, env={"DEBIAN_FRONTEND": "noninteractive"})
        if self.upgrade and not ctx.dry_run:
            files.atomic_write(ctx.layout.state_dir / "apt-upgraded", b"", 0o600)


# ---------------------------------------------------------------- python environments


@dataclass
class Venv:
    path: Path
    python: str
    requirements: list[str]
    # installed after requirements, with --no-deps: packages whose declared pins requirements replace
    no_deps: list[str] = field(default_factory=list)
    verify_only = False

    @property
    def title(self) -> str:
        return f"venv {self.path}: {' '.join([*self.requirements, *self.no_deps])}"

    @property
    def marker(self) -> Path:
        return self.path / ".jeg-wizard-requirements"

    def _wanted(self) -> str:
        # the whole recipe: changing any line of it makes done() false, so the venv is rebuilt
        return "\n".join([*self.requirements, *(f"--no-deps {r}" for r in self.no_deps)]) + "\n"

    def done(self, ctx) -> bool:
        # the marker is written last: a venv killed half-way never looks finished
        py = self.path / "bin" / "python"
        if files.read(self.marker) != self._wanted().encode() or not py.exists():
            return False
        return ctx.runner.probe([str(py), "-c", "pass"]).rc == 0

    def commands(self) -> list[list[str]]:
        pip = str(self.path / "bin" / "pip")
        install = [pip, "install", "--progress-bar", "off", "--disable-pip-version-check"]
        return [
            [self.python, "-m", "venv", str(self.path)],
            [*install, *self.requirements],
            *([[*install, "--no-deps", *self.no_deps]] if self.no_deps else []),
        ]

    def preview(self, ctx) -> list[str]:
        return [_argv_line(ctx, c) for c in self.commands()]

    def apply(self, ctx) -> None:
        ours = self.path.exists() and _ours(ctx, "venv", self.path)
        if not ctx.dry_run and self.path.exists() and not self.marker.exists():
            if ours:
                shutil.rmtree(self.path)  # a half-made venv from an interrupted run: pip may have left half a package
            elif not (self.path / "bin" / "python").exists():
                # someone else's directory that is no venv: never removed, filled or chmodded
                raise RuntimeError(f"{self.path} exists, is not a venv and was not made by jeg-wizard; move it away "
                                   f"or choose another venv path")
        existed = self.path.exists()
        if not ctx.dry_run:
            _record_new_dirs(ctx, self.path)
            ctx.record(kind="venv", path=str(self.path), created=not existed)
        for c in self.commands():
            ctx.runner.run(c)
        if not ctx.dry_run:
            if not existed or ours:
                os.chmod(self.path, 0o755)  # user servers and kernels run as other users
            files.atomic_write(self.marker, self._wanted().encode(), 0o644)


@dataclass
class PipTarget:
    """`pip install --target` into a new directory, then rename: never a partial tree."""
    path: Path
    requirement: str
    sentinel: str  # relative path that exists only in a complete tree
    verify_only = False

    @property
    def title(self) -> str:
        return f"pip install {self.requirement} into {self.path}"

    def done(self, ctx) -> bool:
        return (self.path / self.sentinel).exists()

    def tmp(self) -> Path:
        return self.path.with_name(f".{self.path.name}.partial")

    def argv(self) -> list[str]:
        # the wizard's own pip (its venv always has one): a fresh server's python has no pip module
        return [sys.executable, "-m", "pip", "install", "--progress-bar", "off", "--disable-pip-version-check",
                "--no-compile", "--target", str(self.tmp()), self.requirement]

    def preview(self, ctx) -> list[str]:
        return [_argv_line(ctx, self.argv()), f"# then rename {self.tmp()} -> {self.path}"]

    def apply(self, ctx) -> None:
        tmp = self.tmp()
        if not ctx.dry_run:
            if tmp.exists():
                shutil.rmtree(tmp)
            _record_new_dirs(ctx, self.path)
            ctx.record(kind="dir", path=str(self.path), created=True, software=True, scratch=str(tmp))
        ctx.runner.run(self.argv())
        if ctx.dry_run:
            return
        if self.path.exists():
            shutil.rmtree(self.path)
        os.chmod(tmp, 0o755)
        os.rename(tmp, self.path)


@dataclass
class NpmInstall:
    prefix: Path
    package: str
    version: str
    verify_only = False

    @property
    def title(self) -> str:
        return f"npm install {self.package}@{self.version} into {self.prefix}"

    def done(self, ctx) -> bool:
        pj = self.prefix / "node_modules" / self.package / "package.json"
        try:
            return json.loads(pj.read_text()).get("version") == self.version
        except (OSError, ValueError):
            return False

    def argv(self) -> list[str]:
        return ["npm", "install", "--prefix", str(self.prefix), "--no-progress", "--color=false",
                "--no-fund", "--no-audit", "--omit=dev", f"{self.package}@{self.version}"]

    def preview(self, ctx) -> list[str]:
        return [_argv_line(ctx, self.argv())]

    def apply(self, ctx) -> None:
        existed = self.prefix.exists()
        if not ctx.dry_run:
            _record_new_dirs(ctx, self.prefix)
            ctx.record(kind="dir", path=str(self.prefix), created=not existed, software=True)
            self.prefix.mkdir(parents=True, exist_ok=True, mode=0o755)
        ctx.runner.run(self.argv())


# ---------------------------------------------------------------- files


def _user_ids(owner: str | None) -> tuple[int, int] | None:
    """(uid, gid) of a user name; None: no owner asked; (-1, -1): the user does not exist yet (plan)."""
    if not owner:
        return None
    try:
        pw = pwd.getpwnam(owner)
        return pw.pw_uid, pw.pw_gid
    except KeyError:
        return (-1, -1)


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

    def _ids(self) -> tuple[int, int] | None:
        return _user_ids(self.owner)

    def text(self) -> str:
        return self.content() if callable(self.content) else self.content

    def done(self, ctx) -> bool:
        old = files.read(self.path)
        if old != self.text().encode():
            return False
        st = os.stat(self.path)
        ids = self._ids()
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
        if any(e.get("kind") == "file" and e.get("path") == str(self.path) for e in ctx.journal.entries()):
            return None
        return (f"system.replace_existing_files: {self.path} exists and was not written by jeg-wizard; move it away, "
                f"or set system.replace_existing_files = true to replace it (the original is kept with a timestamp "
                f"in {ctx.layout.backups_dir} and put back by `jeg-wizard uninstall`)")

    def apply(self, ctx) -> None:
        new = self.text()
        if self.validate:
            self.validate(new)
        if ctx.dry_run:
            ctx.runner.emit(f"would write {self.path} (dry run)")
            return
        why = self.foreign(ctx)
        if why:
            raise RuntimeError(why)
        _record_new_dirs(ctx, self.path)
        ctx.journal.ensure()
        old_mode = _mode(self.path)
        saved = files.backup(self.path, ctx.layout.backups_dir)
        ctx.record(kind="file", path=str(self.path), backup=str(saved) if saved else None, created=saved is None,
                   mode=old_mode, owner=_owner(self.path))
        testhook.pause(f"mid {self.title}")
        files.atomic_write(self.path, new.encode(), self.mode, owner=self._ids())
        ctx.runner.emit(f"wrote {self.path}" + (f" (previous kept at {saved})" if saved else ""))


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
        if ctx.dry_run:
            return
        mode = os.stat(self.path).st_mode & 0o7777 if old is not None else 0o644
        _record_new_dirs(ctx, self.path)
        ctx.journal.ensure()
        saved = files.backup(self.path, ctx.layout.backups_dir)
        # added_newline: the last line had no newline and ours went after it; uninstall takes it out again
        ctx.record(kind="block", path=str(self.path), backup=str(saved) if saved else None, created=old is None,
                   mode=mode, owner=_owner(self.path), added_newline=bool(old) and files.BEGIN not in old and not old.endswith("\n"))
        testhook.pause(f"mid {self.title}")
        files.atomic_write(self.path, new.encode(), mode)


@dataclass
class Directory:
    path: Path
    mode: int = 0o755
    owner: str | None = None
    verify_only = False

    @property
    def title(self) -> str:
        return f"directory {self.path} ({self.mode:o}{', ' + self.owner if self.owner else ''})"

    def _ids(self) -> tuple[int, int] | None:
        return _user_ids(self.owner)

    def done(self, ctx) -> bool:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        if not _ours(ctx, "dir", self.path):
            return True  # a directory we did not create keeps its mode and owner: nothing to do
        ids = self._ids()
        return (st.st_mode & 0o7777) == self.mode and (ids is None or (st.st_uid, st.st_gid) == ids)

    def preview(self, ctx) -> list[str]:
        return [f"# mkdir -p -m {self.mode:o} {self.path}" + (f" && chown {self.owner}" if self.owner else "")]

    def apply(self, ctx) -> None:
        if ctx.dry_run:
            return
        if not self.path.exists():
            _record_new_dirs(ctx, self.path)
            ctx.record(kind="dir", path=str(self.path), created=True)
            self.path.mkdir(parents=True, exist_ok=True)
        elif not _ours(ctx, "dir", self.path):
            return  # never change the mode or owner of a directory we did not create
        os.chmod(self.path, self.mode)
        ids = self._ids()
        if ids:
            os.chown(self.path, *ids)


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
            raise RuntimeError(f"{self.link} exists and is not a symlink; move it away or set spark.home to another path")
        if ctx.dry_run:
            return
        tmp = self.link.with_name(f".{self.link.name}.tmp-link")
        if tmp.is_symlink():
            tmp.unlink()
        _record_new_dirs(ctx, self.link)
        ctx.record(kind="symlink", path=str(self.link), target=str(self.target),
                   previous=os.readlink(self.link) if self.link.is_symlink() else None)
        self.link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(self.target, tmp)
        os.replace(tmp, self.link)  # atomic switch, as `ln -sfn` is not


# ---------------------------------------------------------------- downloads


@dataclass
class Download:
    url: str
    dest: Path
    sha512: Callable[[], str]  # "" when no checksum exists
    verify_only = False

    @property
    def title(self) -> str:
        return f"download {self.url}"

    def done(self, ctx) -> bool:
        want = self.sha512()
        return self.dest.exists() and (not want or _sha512(self.dest) == want)

    def preview(self, ctx) -> list[str]:
        want = self.sha512()
        return [f"# GET {self.url} -> {self.dest}" + (f" (sha512 {want[:16]}…)" if want else " (no checksum published)")]

    def apply(self, ctx) -> None:
        from . import download

        if ctx.dry_run:
            return
        _record_new_dirs(ctx, self.dest)
        ctx.record(kind="file", path=str(self.dest), created=True, scratch=str(self.dest) + ".part")
        download.fetch(self.url, self.dest, self.sha512(), emit=ctx.runner.emit)


def _sha512(path: Path) -> str:
    h = hashlib.sha512()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Extract:
    """Extract a tarball whose single top directory becomes dest; via a temp dir + rename."""
    tarball: Path
    dest: Path
    sentinel: str
    verify_only = False

    @property
    def title(self) -> str:
        return f"extract {self.tarball.name} to {self.dest}"

    def done(self, ctx) -> bool:
        return (self.dest / self.sentinel).exists()

    def preview(self, ctx) -> list[str]:
        tmp = self.dest.with_name(f".{self.dest.name}.partial")
        return [_argv_line(ctx, ["tar", "-xzf", str(self.tarball), "-C", str(tmp), "--strip-components=1"]),
                f"# then rename {tmp} -> {self.dest}"]

    def apply(self, ctx) -> None:
        tmp = self.dest.with_name(f".{self.dest.name}.partial")
        if not ctx.dry_run:
            shutil.rmtree(tmp, ignore_errors=True)
            _record_new_dirs(ctx, self.dest)
            ctx.record(kind="dir", path=str(self.dest), created=True, software=True, scratch=str(tmp))
            tmp.mkdir(parents=True, mode=0o755)
        ctx.runner.run(["tar", "-xzf", str(self.tarball), "-C", str(tmp), "--strip-components=1",
                        "--no-same-owner"])
        if ctx.dry_run:
            return
        if not (tmp / self.sentinel).exists():
            shutil.rmtree(tmp, ignore_errors=True)
            raise RuntimeError(f"{self.tarball} does not look like a Spark distribution (no {self.sentinel})")
        if self.dest.exists():
            shutil.rmtree(self.dest)
        os.chmod(tmp, 0o755)
        os.rename(tmp, self.dest)


# ---------------------------------------------------------------- users


@dataclass
class UserAccount:
    name: str
    password: Callable[[], str | None]  # clear text, or None
    password_hash: str = ""
    system_home: str = ""  # set: a system account for a service (no login, no password)
    verify_only = False

    @property
    def title(self) -> str:
        return f"user {self.name}"

    def exists(self) -> bool:
        try:
            pwd.getpwnam(self.name)
            return True
        except KeyError:
            return False

    def _shadow_hash(self) -> str | None:
        try:
            for line in Path("/etc/shadow").read_text().splitlines():
                parts = line.split(":")
                if parts[0] == self.name:
                    return parts[1]
        except OSError:
            pass
        return None

    def password_matches(self) -> bool:
        current = self._shadow_hash()
        if self.password_hash:
            return current == self.password_hash
        clear = self.password()
        if clear is None:
            return True  # nothing asked: keep whatever password the user has
        if not current or current[0] in "!*":
            return False
        try:
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                import crypt
        except ImportError:  # Python >= 3.13: cannot verify, so set it again (idempotent)
            return False
        return crypt.crypt(clear, current) == current

    def done(self, ctx) -> bool:
        return self.exists() and self.password_matches()

    def _commands(self) -> list[tuple[list[str], str | None]]:
        cmds: list[tuple[list[str], str | None]] = []
        if not self.exists() and self.system_home:
            cmds.append((["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", self.system_home,
                          "--shell", "/usr/sbin/nologin", self.name], None))
        elif not self.exists():
            cmds.append((["useradd", "--create-home", "--shell", "/bin/bash", self.name], None))
        if self.password_hash:
            cmds.append((["chpasswd", "--encrypted"], f"{self.name}:{self.password_hash}\n"))
        elif self.password() is not None:
            cmds.append((["chpasswd"], f"{self.name}:{self.password()}\n"))
        return cmds

    def preview(self, ctx) -> list[str]:
        lines = []
        for argv, stdin in self._commands():
            lines.append(_argv_line(ctx, argv, "  < (user:password on stdin, not shown)" if stdin else ""))
        if not self.exists() and self.password() is None and not self.password_hash and not self.system_home:
            lines.append(f"# no password given: {self.name} will be created without one and cannot log in yet")
        return lines

    def apply(self, ctx) -> None:
        ctx.record(kind="user", name=self.name, created=not self.exists())  # before useradd: a kill after it still knows
        for i, (argv, stdin) in enumerate(self._commands()):
            if i:
                testhook.pause(f"mid {self.title}")
            ctx.runner.run(argv, input=stdin)  # the password travels on stdin, never in argv


# ---------------------------------------------------------------- checks


@dataclass
class Check:
    """A verification that changes nothing; `run` raises with the operator's explanation."""
    title: str
    run: Callable[["Context"], str | None]  # returns a line to report
    describe: list[str] = field(default_factory=list)
    verify_only = True

    def done(self, ctx) -> bool:
        return False

    def preview(self, ctx) -> list[str]:
        return self.describe or [f"# check: {self.title}"]

    def apply(self, ctx) -> None:
        if ctx.dry_run:
            return
        line = self.run(ctx)
        if line:
            ctx.runner.emit(f"ok: {line}")


def command_check(title: str, argv: list[str], expect: str, env: dict | None = None, timeout: float = 300) -> Check:
    def run(ctx):
        r = ctx.runner.run(argv, env=env, timeout=timeout, check=False)
        if r.rc != 0 or expect not in r.text:
            tail = "\n".join(r.output[-20:])
            raise RuntimeError(f"{title}: expected '{expect}' from {shlex.join(argv)} (exit {r.rc})\n{tail}")
        return title
    return Check(title, run, [f"$ {shlex.join(argv)}" + (f"   # env: {' '.join(f'{k}={v}' for k, v in (env or {}).items())}" if env else "")])
