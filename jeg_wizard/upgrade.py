"""`jeg-wizard upgrade [--to RELEASE]`: move an install's Python environments to another release set.

In order:
  1. what each environment was built with (its venv marker: jeg_wizard.actions.python_envs.MARKER) and
     what it runs (importlib.metadata in its own python), against the target set (jeg_wizard.releases);
     the proxy, Spark and Java as installed against the answers. The deltas are printed.
  2. the refusal table (releases.REFUSED) against the target's pins and this machine (Spark, Java, node):
     a refused combination stops here, nothing changed.
  3. a backup (jeg_wizard.backup.make) into the state dir's backups: the first change comes after it.
  4. each environment that changes is built beside the old one, in a directory named by its recipe
     (<prefix>/jeg/hub-<sha>; one already there and complete is reused), and checked again against the
     table with the versions pip resolved. The stable path (<prefix>/jeg/hub, what the configs, service
     specs and shebangs name) is a symlink to it.
  5. the services that run from them stop (the hub with its user servers), the hub database and the files
     the upgrade could touch are journaled with backups (settings.rollback's records), each stable path is
     switched in one rename (os.replace of a temp symlink; the first time, when it is still the install's
     real directory, renameat2(RENAME_EXCHANGE) swaps the directory and the symlink), the services start
     and the health step's checks run, the deep one included (login -> spawn -> Spark job via the gateway).
  6. on any failure: the services stop, every path is switched back (a real directory becomes one again),
     settings.rollback restores the journaled files byte for byte (the database too), their sha256 is
     compared with what they were, the services start on the old environments and the quick health checks
     run; the time it took is printed. The new environments stay beside (a retry reuses them).
No textual here; argv lists only.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import releases, testhook
from .actions import ServiceRunning, Venv
from .actions.files import FileRecord, _mode, _owner
from .actions.python_envs import VenvRecord, recipe
from .answers import AnswersError
from .engine import Context, lock_state_dir, unlock_state_dir

# what the delta shows of each environment, and what runs from it
SHOWN = {
    "hub": ("jupyterhub", "jupyterlab", "notebook", "jupyter_server"),
    "gateway": ("jupyter_enterprise_gateway", "jupyter_server", "jupyter_client"),
    "kernel": ("ipykernel",),
}
SERVICES = {"hub": ("services", "hub"), "gateway": ("gateway", "gateway"), "kernel": ("gateway", "gateway")}


@dataclass
class Env:
    name: str  # hub | gateway | kernel
    link: Path  # the stable path the configs name
    requirements: tuple[str, ...]
    no_deps: tuple[str, ...]
    installed: str | None  # the recipe its marker holds (None: no marker)
    versions: dict[str, str] = field(default_factory=dict)  # what runs now

    @property
    def wanted(self) -> str:
        return recipe(self.requirements, self.no_deps)

    @property
    def changes(self) -> bool:
        return self.installed != self.wanted

    def beside(self, python: str, text: str | None = None) -> Path:
        """The versioned directory for a recipe (the target's by default), next to the stable path."""
        digest = hashlib.sha256(f"{python}\n{text or self.wanted}".encode()).hexdigest()[:10]
        return self.link.with_name(f"{self.link.name}-{digest}")


@dataclass
class Plan:
    ctx: Context
    target: releases.Release
    envs: list[Env]
    others: list[tuple[str, str, str]]  # (component, installed, answers say)
    refused: list[str]
    current: str  # the release the environments were built with ("" when none of the table)

    @property
    def changing(self) -> list[Env]:
        return [e for e in self.envs if e.changes]


def venv_versions(venv: Path, names) -> dict[str, str]:
    """name -> version installed in the venv (importlib.metadata in its own python); {} when it does not run."""
    import subprocess

    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))"
    )
    try:
        r = subprocess.run(
            [str(venv / "bin" / "python"), "-c", code, *names], capture_output=True, text=True, timeout=60
        )
        return json.loads(r.stdout) if r.returncode == 0 else {}
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return {}


def _first_line(argv: list[str]) -> str:
    import subprocess

    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return ((r.stdout or "") + (r.stderr or "")).strip().splitlines()[0] if r.returncode == 0 else ""


def java_version(java_home: Path) -> str:
    """'17.0.13' from `java -version` ('1.8.0_412' -> '8')."""
    line = _first_line([str(java_home / "bin" / "java"), "-version"])
    if '"' not in line:
        return ""
    v = line.split('"')[1]
    return v[2:].split(".")[0] if v.startswith("1.") else v


def spark_version(L) -> str:
    """The version of the Spark the spark symlink points at (its directory's name says it)."""
    try:
        name = Path(os.readlink(L.spark_link)).name
    except OSError:
        return ""
    return name.removeprefix("spark-").split("-")[0]


def plan(ctx: Context, target_name: str | None = None) -> Plan:
    from . import distro
    from .actions.python_envs import MARKER
    from .files import read
    from .steps.proxy import proxy_version

    if target_name and target_name not in releases.RELEASES:
        raise AnswersError(
            [f"--to: no release set {target_name!r}; known: {', '.join(releases.RELEASES)} (jeg_wizard.releases)"]
        )
    target = releases.RELEASES[target_name or releases.CURRENT.name]
    L, a = ctx.layout, ctx.answers
    wanted = {
        "hub": (L.hub_venv, target.hub, ()),
        "gateway": (L.gateway_venv, target.gateway, target.gateway_no_deps),
        "kernel": (L.kernel_venv, target.kernel, ()),
    }
    runs = {"hub": L.runs("hub"), "gateway": L.runs("gateway"), "kernel": L.runs("gateway", "worker")}
    envs = []
    for name, (link, reqs, no_deps) in wanted.items():
        if not runs[name]:
            continue
        marker = read(link / MARKER)
        envs.append(Env(name, link, tuple(reqs), tuple(no_deps), marker.decode() if marker else None))
        envs[-1].versions = venv_versions(link, SHOWN[name])
    others = []
    if L.runs("hub"):
        have = _first_line([str(L.proxy_bin), "--version"])
        others.append(("configurable-http-proxy", have, proxy_version(ctx)))
    if L.runs("gateway", "worker"):
        others.append(("spark", spark_version(L), a.spark.version))
        others.append(("java", java_version(L.java_home), str(a.java.version)))
    current = releases.named({e.name: e.installed or "" for e in envs})
    # the table, before any change: the target's exact pins, and this machine's Spark, Java and node
    versions = {f"{e.name}:{k}": v for e in envs for k, v in releases.pinned(e.requirements + e.no_deps).items()}
    versions |= {"spark": a.spark.version, "java": str(a.java.version)}
    node = distro.node_major()
    if node is not None:
        versions["node"] = str(node)
    if L.runs("hub"):
        versions["proxy"] = proxy_version(ctx)
    return Plan(ctx, target, envs, others, releases.refusals(versions), current)


def render(p: Plan) -> str:
    out = [
        f"upgrade: from {p.current or 'a set not in the table (built by another wizard, or edited)'} to {p.target.name}"
    ]
    for e in p.envs:
        have = ", ".join(f"{k} {v}" for k, v in e.versions.items()) or "not found"
        if e.changes:
            was = (e.installed or "(no marker)").strip().replace("\n", " ")
            out.append(f"  {e.name} ({e.link}): {have}")
            out.append(f"    built with: {was}")
            out.append(f"    target:     {' '.join([*e.requirements, *(f'--no-deps {r}' for r in e.no_deps)])}")
        else:
            out.append(f"  {e.name} ({e.link}): {have} (already {p.target.name}: unchanged)")
    for what, have, want in p.others:
        same = have == want or (what == "java" and have.split(".")[0] == want)
        note = "unchanged" if same else "differs from the answers: `upgrade` does not change it, `install` does"
        out.append(f"  {what}: {have or 'not found'} (answers: {want}; {note})")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ the switch


AT_FDCWD, RENAME_EXCHANGE = -100, 2


def exchange(a: Path, b: Path) -> None:
    """Swap two paths in one step (renameat2 RENAME_EXCHANGE, Linux 3.15+, glibc 2.28+)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"renameat2({a}, {b}, RENAME_EXCHANGE): {os.strerror(e)}")


def _fsync_dir(d: Path) -> None:
    fd = os.open(d, os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def point(link: Path, target: Path) -> None:
    """The symlink link -> target (relative: a sibling) replaced in one rename by a temp symlink."""
    tmp = link.with_name(f".{link.name}.switch")
    if tmp.is_symlink():
        tmp.unlink()
    os.symlink(target.name, tmp)
    os.replace(tmp, link)
    _fsync_dir(link.parent)


@dataclass
class Switched:
    env: Env
    new: Path
    old: Path  # where the old environment is now
    was_dir: bool  # link was the install's real directory (moved to `old`)


def switch(env: Env, new: Path, old: Path) -> Switched:
    """The stable path to the new environment, atomically. A real directory there is swapped with the
    symlink in one renameat2 and then renamed to `old` (its scripts name the stable path: they work
    through the symlink when it points back at it)."""
    link = env.link
    if link.is_symlink():
        was = link.parent / os.readlink(link)
        point(link, new)
        return Switched(env, new, was, False)
    tmp = link.with_name(f".{link.name}.switch")
    if tmp.is_symlink():
        tmp.unlink()
    os.symlink(new.name, tmp)
    exchange(tmp, link)  # link is the symlink now, tmp the old directory
    os.rename(tmp, old)
    _fsync_dir(link.parent)
    return Switched(env, new, old, True)


def switch_back(s: Switched) -> None:
    link = s.env.link
    if not s.was_dir:
        point(link, s.old)
        return
    tmp = link.with_name(f".{link.name}.switch")
    os.rename(s.old, tmp)
    exchange(tmp, link)  # the real directory back at link, the symlink at tmp
    tmp.unlink()
    _fsync_dir(link.parent)


# ------------------------------------------------------------------ building beside


def build(ctx: Context, env: Env) -> Path:
    """The target environment beside the old one (reused when a complete one is there)."""
    python = ctx.answers.system.python
    new = env.beside(python)
    venv = Venv(new, python, list(env.requirements), list(env.no_deps))
    if venv.done(ctx):
        ctx.runner.emit(f"{env.name}: {new} is already built for {env.wanted.strip()!r}: reused")
        return new
    ctx.runner.emit(f"-- {env.name}: building {new}")
    venv.apply(ctx)  # journals a VenvRecord (uninstall --remove-software removes it) and writes the marker last
    if env.name == "hub":  # the site-wide JupyterLab settings live inside the hub venv: the same file in the new
        old = ctx.layout.lab_overrides
        if old.is_file():
            dest = new / old.relative_to(env.link)
            ctx.runner.write(dest, old.read_bytes(), _mode(old) or 0o644)
    return new


def built_refusals(ctx: Context, env: Env, path: Path) -> list[str]:
    names = {w.split(":", 1)[1] for w, *_ in releases.REFUSED if w.startswith(f"{env.name}:")} | set(SHOWN[env.name])
    found = venv_versions(path, sorted(names))
    return releases.refusals({f"{env.name}:{k}": v for k, v in found.items()})


# ------------------------------------------------------------------ applying it, and putting it back


def watched(L) -> list[Path]:
    """What the upgrade must leave byte for byte as it found it on a failure (the database with them)."""
    paths = [
        L.hub_state_dir / "jupyterhub.sqlite",
        L.hub_config,
        L.config_dir / "jupyter_server_config.py",
        L.gateway_config,
        L.hub_users_file,
        L.hub_env_file,
        L.lab_overrides,
        L.saved_answers,
    ]
    if L.kernel_dir.is_dir():
        paths += sorted(p for p in L.kernel_dir.rglob("*") if p.is_file())
    return [p for p in paths if p.is_file()]


def digests(paths: list[Path]) -> dict[str, str]:
    from .bundle import sha256_of

    return {str(p): sha256_of(p) for p in paths if p.is_file()}


@dataclass
class Outcome:
    ok: bool
    message: str
    rollback_seconds: float | None = None
    put_back: bool = True


def _services(ctx: Context, envs: list[Env]):
    """(steps, ServiceRunning actions) of the services running from these environments."""
    from .steps import for_role

    want = {SERVICES[e.name] for e in envs}
    steps = [s for s in for_role(ctx.role) if s.id in {w[0] for w in want}]
    actions = [a for s in steps for a in s.build(ctx) if isinstance(a, ServiceRunning) and (s.id, a.spec.name) in want]
    return steps, actions


def _stop(ctx: Context, actions) -> list[str]:
    from .actions.services import STOP_ORDER

    stopped = []
    for a in sorted(actions, key=lambda a: STOP_ORDER.index(a.spec.name) if a.spec.name in STOP_ORDER else 99):
        if a.mgr(ctx.runner).stop(a.spec.name, children=True):  # user servers and kernels run the old code
            stopped.append(a.spec.name)
    return stopped


def apply(p: Plan, *, backup_to: Path | None = None, verify: bool = True) -> Outcome:
    """Backup, build beside, switch, restart, health; on a failure everything put back (see the module)."""
    from . import backup, settings

    ctx = p.ctx
    L, say = ctx.layout, ctx.runner.emit
    lock_state_dir(L.state_dir)
    try:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        try:
            made = backup.make(L, backup_to or L.backups_dir / f"jeg-wizard-backup-{stamp}-before-upgrade.tar.gz")
        except (OSError, sqlite3.Error, backup.BackupError) as e:
            return Outcome(False, f"  the backup failed, so nothing was changed: {e}")
        say(f"backup: {made.path} ({made.members} members) in {made.seconds:.1f}s")
        new: dict[str, Path] = {}
        t = time.monotonic()
        for env in p.changing:
            try:
                new[env.name] = build(ctx, env)
            except Exception as e:  # noqa: BLE001 - pip's failure, named; the running install is untouched
                why = str(e).splitlines()[0] if str(e) else repr(e)
                return Outcome(False, f"  building the {env.name} environment beside failed ({why}); nothing switched")
            bad = built_refusals(ctx, env, new[env.name])
            if bad:
                return Outcome(
                    False,
                    "  refused after pip resolved the new environment (nothing switched; it stays beside at "
                    f"{new[env.name]}):\n" + "\n".join(f"  - {b}" for b in bad),
                )
        say(f"built beside in {time.monotonic() - t:.1f}s: {', '.join(str(n) for n in new.values())}")
        testhook.fail("upgrade built")
        steps, actions = _services(ctx, p.changing)
        change = settings.Change(ctx, ctx, steps, [], [a.spec.name for a in actions], keys=[f"release {p.target.name}"])
        mark = len(ctx.journal.entries())
        done: list[Switched] = []
        before: dict[str, str] = {}
        t = time.monotonic()
        try:
            stopped = _stop(ctx, actions)
            say(f"stopped: {', '.join(stopped) or 'nothing was running'}")
            for path in watched(L):  # journaled with a backup: settings.rollback writes them back as they are now
                saved = ctx.runner.backup(path, L.backups_dir)
                ctx.record(
                    FileRecord(str(path), backup=str(saved), created=False, mode=_mode(path), owner=_owner(path))
                )
            before = digests(watched(L))
            for env in p.changing:
                old = env.beside(ctx.answers.system.python, env.installed or "unknown")
                done.append(switch(env, new[env.name], old))
                ctx.record(VenvRecord(str(done[-1].old), created=True))  # the old one, beside: uninstall knows it
                say(f"switched {env.link} -> {new[env.name].name} (the old one: {done[-1].old})")
            testhook.fail("upgrade switched")
            if "hub" in new:  # a schema the new JupyterHub changes (a no-op when it is the same; journaled above)
                hub = [str(L.hub_venv / "bin" / "jupyterhub"), "upgrade-db", "-f", str(L.hub_config)]
                ctx.runner.run(hub, cwd=str(L.hub_state_dir), timeout=300)
            for a in actions:
                if not a.done(ctx):
                    ctx.runner.emit(f"-- {a.title}")
                    a.apply(ctx)
            say(f"down, switched and up again in {time.monotonic() - t:.1f}s")
            testhook.fail("upgrade started")
            t = time.monotonic()
            settings.health(ctx, verify)
            say(
                f"health checks{' (login -> spawn -> Spark job included)' if verify else ''}: {time.monotonic() - t:.1f}s"
            )
        except (Exception, KeyboardInterrupt) as e:
            t0 = time.monotonic()
            say(f"!! {e}")
            say("== rollback: switching back and putting back what this run changed")
            problems = []
            _stop(ctx, actions)
            for s in reversed(done):
                try:
                    switch_back(s)
                    say(f"switched {s.env.link} back")
                except OSError as err:
                    problems.append(f"{s.env.link}: not switched back: {err}")

            def identical() -> list[str]:
                after = digests([Path(k) for k in before])
                same = [k for k in before if after.get(k) == before[k]]
                say(f"byte-identical to before the upgrade (sha256): {len(same)} of {len(before)} files")
                return [f"{k}: differs from before the upgrade" for k in before if after.get(k) != before[k]]

            put, more = settings.rollback(change, mark, before_restart=identical if before else None)
            problems += more
            secs = time.monotonic() - t0
            ctx.journal.write({"kind": "note", "what": f"upgrade to {p.target.name} rolled back"})
            if isinstance(e, KeyboardInterrupt):
                raise
            after = "healthy again" if not problems else "NOT healthy again: " + "; ".join(problems)
            cause = str(e).splitlines()[0] if str(e) else repr(e)
            return Outcome(
                False,
                f"  {cause}\n  rolled back in {secs:.1f}s ({'; '.join(put) or 'nothing had changed'}); {after}",
                secs,
                put_back=not problems,
            )
        ctx.journal.write({"kind": "note", "what": f"upgraded to release {p.target.name}"})
        olds = ", ".join(str(s.old) for s in done)
        return Outcome(
            True, f"restarted: {', '.join(change.restart) or 'nothing'}; the old environments stay beside: {olds}"
        )
    finally:
        unlock_state_dir(L.state_dir)
