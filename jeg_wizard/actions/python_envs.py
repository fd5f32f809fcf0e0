"""Python environments: venvs for the hub, the gateway and the kernels; pip --target trees (pyspark)."""

from __future__ import annotations

import ast
import functools
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .. import files
from .files import DirRecord
from .records import Op, Undo, argv_line, ours, record_new_dirs

MARKER = ".jeg-wizard-requirements"  # written last: a venv without it was never finished


def recipe(requirements, no_deps=()) -> str:
    """A venv's whole recipe, as its marker file holds it: changing any line of it means another venv."""
    return "\n".join([*requirements, *(f"--no-deps {r}" for r in no_deps)]) + "\n"


def pip_source(ctx) -> list[str]:
    """With install --bundle: the bundle's wheels only, never an index."""
    return ctx.bundle.pip_options() if ctx.bundle else []


PIP = ["--progress-bar", "off", "--disable-pip-version-check"]  # pip's own options for every install
# pip settings that only shape pip's output, retries or self-checks: nothing uv installs depends on them
PIP_COSMETIC = {
    "default-timeout",
    "timeout",
    "retries",
    "disable-pip-version-check",
    "progress-bar",
    "no-input",
    "quiet",
    "verbose",
    "root-user-action",
    "no-color",
    "require-virtualenv",
    "no-python-version-warning",
    "config-file",
}
TRUE = {"1", "true", "yes", "on"}


@functools.lru_cache(maxsize=4)
def _pip_config(env: tuple) -> dict[str, str] | None:
    r = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, env=dict(env), check=False
    )
    if r.returncode != 0:
        return None  # pip's settings unknown: pip installs, reading them itself
    out: dict[str, str] = {}
    for line in r.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key] = ast.literal_eval(value) if value[:1] in "'\"" else value
    return out


def pip_config() -> dict[str, str] | None:
    """`pip config list` of the wizard's pip: the files and PIP_* variables pip itself would use."""
    return _pip_config(tuple(sorted(os.environ.items())))


def uv_settings(config: dict[str, str] | None) -> tuple[list[str], dict[str, str]] | None:
    """pip's effective install settings as uv flags (and environment); None when one has no uv equal
    (then pip installs, so a site's mirror, proxy or client certificate is never silently dropped)."""
    if config is None:
        return None
    merged: dict[str, str] = {}
    for section in ("global", "install", ":env:"):  # pip's precedence: env over [install] over [global]
        merged.update({k.split(".", 1)[1]: v for k, v in config.items() if k.split(".", 1)[0] == section})
    flags: list[str] = []
    env: dict[str, str] = {}
    for key, value in merged.items():
        many = value.split()
        if key in PIP_COSMETIC:
            continue
        if key == "index-url":
            flags += ["--index-url", value]
        elif key == "extra-index-url":
            flags += [f for v in many for f in ("--extra-index-url", v)]
        elif key == "find-links":
            flags += [f for v in many for f in ("--find-links", v)]
        elif key == "trusted-host":
            flags += [f for v in many for f in ("--allow-insecure-host", v)]
        elif key == "constraint":
            flags += [f for v in many for f in ("--constraints", v)]
        elif key == "no-index":
            flags += ["--no-index"] if value.lower() in TRUE else []
        elif key == "no-cache-dir":
            flags.append("--no-cache")  # pip: any value disables its cache (the bench's cold runs too)
        elif key == "cert":
            env["SSL_CERT_FILE"] = value
        else:
            return None
    # pip takes the best version over all its indexes; uv's default takes the first index that has one
    return flags + ["--index-strategy", "unsafe-best-match"], env


def uv_bin() -> str | None:
    """uv from the wizard's own venv (a dependency), unless JEG_WIZARD_INSTALLER=pip asks for pip."""
    uv = Path(sys.executable).with_name("uv")
    return str(uv) if os.environ.get("JEG_WIZARD_INSTALLER", "uv") != "pip" and uv.exists() else None


@dataclass(frozen=True)
class Installer:
    """One install command's head: `uv pip install` with pip's settings translated, or pip itself."""

    argv: list[str]
    env: dict[str, str]

    @property
    def uv(self) -> bool:
        return self.argv[1:3] == ["pip", "install"] and Path(self.argv[0]).name == "uv"

    @staticmethod
    def pip(ctx, pip: list[str], compile_: bool = True) -> Installer:
        return Installer([*pip, "install", *PIP, *([] if compile_ else ["--no-compile"]), *pip_source(ctx)], {})

    @staticmethod
    def for_python(ctx, python: str, pip: list[str], compile_: bool = True) -> Installer:
        """An installer into `python`'s environment; `pip` is the pip command to fall back to."""
        uv, settings = uv_bin(), uv_settings(pip_config())
        if uv is None or settings is None:
            return Installer.pip(ctx, pip, compile_)
        flags, env = settings
        compile_flag = ["--compile-bytecode"] if compile_ else []  # pip's default; kernels start from .pyc
        return Installer([uv, "pip", "install", "--python", python, *compile_flag, *flags, *pip_source(ctx)], env)


DISTRO_WHEELS = Path("/usr/share/python-wheels")  # Debian's and Ubuntu's: the wheels their ensurepip installs


def seed_wheels(python: str) -> list[str]:
    """What ensurepip puts in a venv of the distribution's python (its pip and setuptools wheels), as files
    for uv to install; [] for another python (its own ensurepip runs) or no pip wheel there."""
    if not python.startswith("/usr/bin/"):
        return []
    newest: dict[str, Path] = {}
    for wheel in sorted(DISTRO_WHEELS.glob("*.whl"), key=lambda w: _version(w.name)):
        name = wheel.name.split("-")[0]
        if name in ("pip", "setuptools"):
            newest[name] = wheel
    return [str(w) for w in newest.values()] if "pip" in newest else []


def _version(wheel: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in wheel.split("-")[1].split("."))


@dataclass
class VenvRecord(DirRecord):
    """A venv: software (removed with --remove-software when we created it)."""

    software: bool = True
    kind = "venv"

    def undo_foreign(self, u: Undo) -> list[Op]:
        marker = Path(self.path) / MARKER
        if marker.exists():
            return [
                Op(
                    f"keep {self.path} (a venv that was there before; only our marker goes)",
                    lambda: u.runner.remove(marker),
                )
            ]
        return []


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
        return self.path / MARKER

    def _wanted(self) -> str:
        # the whole recipe: changing any line of it makes done() false, so the venv is rebuilt
        return recipe(self.requirements, self.no_deps)

    def done(self, ctx) -> bool:
        # the marker is written last: a venv killed half-way never looks finished
        py = self.path / "bin" / "python"
        if files.read(self.marker) != self._wanted().encode() or not py.exists():
            return False
        return ctx.runner.probe([str(py), "-c", "pass"]).rc == 0

    def installer(self, ctx) -> Installer:
        return Installer.for_python(ctx, str(self.path / "bin" / "python"), [str(self.path / "bin" / "pip")])

    def commands(self, ctx) -> list[list[str]]:
        # `python -m venv` (not `uv venv`): the same pip and setuptools as ever (ensurepip's, offline too),
        # for the callers and users who run <venv>/bin/pip. With uv and the distribution's python, uv puts
        # ensurepip's own wheels in (0.2 s, where ensurepip takes 3 s of CPU)
        installer = self.installer(ctx)
        install, seeds = installer.argv, seed_wheels(self.python) if installer.uv else []
        return [
            [self.python, "-m", "venv", *(["--without-pip"] if seeds else []), str(self.path)],
            [*install, *seeds, *self.requirements],
            *([[*install, "--no-deps", *self.no_deps]] if self.no_deps else []),
        ]

    def preview(self, ctx) -> list[str]:
        return [argv_line(ctx, c) for c in self.commands(ctx)]

    def apply(self, ctx) -> None:
        existed = self.path.exists()
        mine = existed and ours(ctx, VenvRecord, self.path)
        if existed and not self.marker.exists():
            if mine:
                ctx.runner.remove(
                    self.path
                )  # a half-made venv from an interrupted run: pip may have left half a package
                existed = False
            elif not (self.path / "bin" / "python").exists():
                # someone else's directory that is no venv: never removed, filled or chmodded
                raise RuntimeError(
                    f"{self.path} exists, is not a venv and was not made by jeg-wizard; move it away "
                    f"or choose another venv path"
                )
        record_new_dirs(ctx, self.path)
        ctx.record(VenvRecord(str(self.path), created=not existed))
        env = self.installer(ctx).env
        for c in self.commands(ctx):
            ctx.runner.run(c, env=env)
        if not existed or mine:
            ctx.runner.chmod(self.path, 0o755)  # user servers and kernels run as other users
        ctx.runner.write(self.marker, self._wanted().encode(), 0o644)


@dataclass
class PipTarget:
    """`pip install --target` into a new directory, then rename: never a partial tree."""

    path: Path
    requirement: str
    sentinel: str  # relative path that exists only in a complete tree
    no_deps: bool = False  # the package's files only (Toree: its jar)
    verify_only = False

    @property
    def title(self) -> str:
        return f"pip install {self.requirement} into {self.path}"

    def done(self, ctx) -> bool:
        return (self.path / self.sentinel).exists()

    def tmp(self) -> Path:
        return self.path.with_name(f".{self.path.name}.partial")

    def installer(self, ctx) -> Installer:
        # the wizard's own python and pip (its venv always has one): a fresh server's python has no pip module.
        # pip, not uv: PyPI's pyspark is a 450 MB sdist, which pip copies into place; uv builds and zips a
        # wheel of it first (20 s more here), and does so again on every install from this box's index
        return Installer.pip(ctx, [sys.executable, "-m", "pip"], compile_=False)

    def argv(self, ctx) -> list[str]:
        return [
            *self.installer(ctx).argv,
            *(["--no-deps"] if self.no_deps else []),
            "--target",
            str(self.tmp()),
            self.requirement,
        ]

    def preview(self, ctx) -> list[str]:
        return [argv_line(ctx, self.argv(ctx)), f"# then rename {self.tmp()} -> {self.path}"]

    def apply(self, ctx) -> None:
        tmp = self.tmp()
        if tmp.exists():
            ctx.runner.remove(tmp)
        record_new_dirs(ctx, self.path)
        ctx.record(DirRecord(str(self.path), created=True, software=True, scratch=str(tmp)))
        ctx.runner.run(self.argv(ctx), env=self.installer(ctx).env)
        if self.path.exists():
            ctx.runner.remove(self.path)
        ctx.runner.chmod(tmp, 0o755)
        ctx.runner.rename(tmp, self.path)
