"""System packages (apt) and the proxy's node package (npm)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..runner import CommandFailed
from .files import DirRecord
from .records import Op, Phase, Record, Undo, argv_line, record_new_dirs

APT_ENV = {"DEBIAN_FRONTEND": "noninteractive"}
# a fresh server's unattended-upgrades (or cloud-init) holds apt's locks for minutes after its first boot
LOCK_WAIT = 600.0
APT_GET = ["apt-get", "-o", f"DPkg::Lock::Timeout={int(LOCK_WAIT)}"]  # waits for dpkg's lock


def apt_get(ctx) -> list[str]:
    """apt-get, reading only the bundle's repository with install --bundle."""
    return [*APT_GET, *(ctx.bundle.apt_options() if ctx.bundle else [])]


def run_apt(ctx, argv: list[str], wait: float = LOCK_WAIT, every: float = 5.0) -> None:
    """argv, again while another program holds the package lists' lock: DPkg::Lock::Timeout waits for dpkg's
    lock only, and apt-get update fails at once on the lists' one."""
    deadline = time.monotonic() + wait
    while True:
        try:
            ctx.runner.run(argv, env=APT_ENV)
            return
        except CommandFailed as e:
            held = next((ln for ln in e.tail if "Could not get lock" in ln), None)
            if held is None or time.monotonic() + every > deadline:
                raise
            ctx.runner.emit(f"waiting for another package manager to finish ({held.removeprefix('E: ').strip()})")
            time.sleep(every)


def dpkg_installed(runner, pkgs: list[str]) -> list[str]:
    """The subset of pkgs dpkg reports installed."""
    if not pkgs:
        return []
    r = runner.probe(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *pkgs])
    return [ln.split()[0] for ln in r.output if ln.endswith(" installed")]


@dataclass
class PackagesRecord(Record):
    installed: list[str] = field(default_factory=list)  # the ones missing before: ours to remove
    kind = "packages"
    phase = Phase.PACKAGES

    def key(self) -> tuple:
        return ("packages",)  # all of them in one apt-get remove

    def merge(self, later: Record) -> Record:
        return PackagesRecord([*self.installed, *(p for p in later.installed if p not in self.installed)])

    def undo(self, u: Undo) -> list[Op]:
        pkgs = dpkg_installed(u.runner, self.installed)
        if pkgs and u.remove_packages:
            return [
                Op(
                    f"apt-get remove {' '.join(pkgs)} (installed by the install)",
                    lambda: u.runner.run([*APT_GET, "remove", "-y", "-q", *pkgs], env=APT_ENV),
                )
            ]
        if pkgs:
            return [Op(f"keep packages {' '.join(pkgs)} (installed by the install; --remove-packages removes them)")]
        return []


@dataclass
class AptInstall:
    packages: list[str]
    verify_only = False

    @property
    def title(self) -> str:
        return f"apt install {' '.join(self.packages)}"

    def missing(self, ctx) -> list[str]:
        have = set(dpkg_installed(ctx.runner, self.packages))
        return [p for p in self.packages if p not in have]

    def done(self, ctx) -> bool:
        return not self.missing(ctx)

    def argv(self, ctx) -> list[str]:
        return [*apt_get(ctx), "install", "-y", "-q", "--no-install-recommends", *(self.missing(ctx) or self.packages)]

    def preview(self, ctx) -> list[str]:
        return [argv_line(ctx, self.argv(ctx))]

    def apply(self, ctx) -> None:
        ctx.record(PackagesRecord(self.missing(ctx)))
        try:
            ctx.runner.run(self.argv(ctx), env=APT_ENV)
        except CommandFailed as e:  # an apt killed half-way: dpkg wants its interrupted work finished first
            if "dpkg --configure -a" not in "\n".join(e.tail):
                raise
            ctx.runner.run(["dpkg", "--configure", "-a"], env=APT_ENV)
            ctx.runner.run(self.argv(ctx), env=APT_ENV)


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
        return len(dpkg_installed(ctx.runner, self.needed)) == len(set(self.needed))

    def commands(self, ctx) -> list[list[str]]:
        cmds = [[*apt_get(ctx), "update", "-q"]]
        if self.upgrade:
            cmds.append([*apt_get(ctx), "upgrade", "-y", "-q"])
        return cmds

    def preview(self, ctx) -> list[str]:
        return [argv_line(ctx, c) for c in self.commands(ctx)]

    def apply(self, ctx) -> None:
        for c in self.commands(ctx):
            run_apt(ctx, c)
        if self.upgrade:
            ctx.runner.write(ctx.layout.state_dir / "apt-upgraded", b"", 0o600)


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

    def argv(self, ctx) -> list[str]:
        if (
            ctx.bundle
        ):  # the tree npm installed on the bundle's machine (npm's cache does not carry across npm releases)
            tree = ctx.bundle.npm_tree(self.package, self.version)
            return ["tar", "-xf", str(tree), "-C", str(self.prefix), "--no-same-owner"]
        return [
            "npm",
            "install",
            "--prefix",
            str(self.prefix),
            "--no-progress",
            "--color=false",
            "--no-fund",
            "--no-audit",
            "--omit=dev",
            f"{self.package}@{self.version}",
        ]

    def preview(self, ctx) -> list[str]:
        return [argv_line(ctx, self.argv(ctx))]

    def apply(self, ctx) -> None:
        existed = self.prefix.exists()
        record_new_dirs(ctx, self.prefix)
        ctx.record(DirRecord(str(self.prefix), created=not existed, software=True))
        ctx.runner.mkdir(self.prefix, 0o755)
        ctx.runner.run(self.argv(ctx))
