"""`jeg-wizard uninstall`: undo what the journal says the install did.

Services stopped (systemd units removed), files we created deleted, files we replaced restored
from the backup taken before our first write (content, mode, owner), our managed block taken out
of files we do not own (every other byte kept), our symlinks removed while they still point where
we set them, directories we created removed when empty; with the flags, the software trees
(Spark, venvs, the proxy prefix), the users we created and the packages we installed; last the
state directory. `plan()` only looks: `--dry-run` prints it. Re-running after an interruption
finishes the job (the journal goes last).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import files
from .engine import Journal, reap_leftovers
from .layout import Layout

SERVICE_NAMES = ("hub", "gateway", "spark-worker", "spark-master")  # stop order
STATE_ENTRIES = ("journal.jsonl", "answers.toml", "backups", "secrets", "services", "hub", "gateway",
                 "downloads", "running", "apt-upgraded", "install.lock", "tls")


@dataclass
class Op:
    line: str  # what is (or would be) done, for the operator
    do: Callable[[], None] | None = None  # None: only said (kept, nothing to do)


@dataclass
class Recorded:
    """The journal folded per path: what matters for undoing it."""
    files: dict[str, dict] = field(default_factory=dict)  # path -> first entry (the state before us)
    blocks: dict[str, dict] = field(default_factory=dict)  # path -> first entry
    links: dict[str, tuple[dict, dict]] = field(default_factory=dict)  # path -> (first, last) entries
    dirs: dict[str, dict] = field(default_factory=dict)  # path -> {created, software}
    scratch: set[str] = field(default_factory=set)  # temp trees/files of interrupted runs
    users: dict[str, bool] = field(default_factory=dict)  # name -> created by us
    packages: list[str] = field(default_factory=list)
    services: dict[str, str] = field(default_factory=dict)  # name -> manager kind


def fold(entries: list[dict]) -> Recorded:
    r = Recorded()
    for e in entries:
        kind, path = e.get("kind"), e.get("path")
        if e.get("scratch"):
            r.scratch.add(e["scratch"])
        if kind == "file" and path:
            r.files.setdefault(path, e)
        elif kind == "block" and path:
            r.blocks.setdefault(path, e)
        elif kind == "symlink" and path:
            first = r.links[path][0] if path in r.links else e
            r.links[path] = (first, e)
        elif kind in ("dir", "venv") and path:
            d = r.dirs.setdefault(path, {"created": False, "software": False, "venv": False})
            d["created"] |= bool(e.get("created"))
            d["software"] |= bool(e.get("software")) or kind == "venv"
            d["venv"] |= kind == "venv"
        elif kind == "user" and e.get("name"):
            r.users[e["name"]] = r.users.get(e["name"], False) or bool(e.get("created"))
        elif kind == "packages":
            r.packages += [p for p in e.get("installed") or [] if p not in r.packages]
        elif kind == "service" and e.get("name"):
            r.services[e["name"]] = e.get("manager", "process")
    return r


def _inside(path: str | Path, root: Path) -> bool:
    try:
        Path(path).relative_to(root)
        return True
    except ValueError:
        return False


def _rm(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path)


def _run(argv: list[str]) -> None:
    r = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    if r.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed (exit {r.returncode}): {(r.stderr or r.stdout).strip()[-500:]}")


def _installed(pkgs: list[str]) -> list[str]:
    if not pkgs:
        return []
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *pkgs],
                       capture_output=True, text=True)
    return [ln.split()[0] for ln in r.stdout.splitlines() if ln.endswith(" installed")]


def _user_exists(name: str) -> bool:
    import pwd
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _end_processes_of(name: str, grace: float = 10) -> None:
    """The services are stopped by now, but their last processes may take a moment to go (userdel
    refuses while any runs): wait, then SIGKILL what is left of this user (ours: we remove it)."""
    import pwd
    import signal
    import time

    uid = pwd.getpwnam(name).pw_uid

    def pids() -> list[int]:
        out = []
        for d in Path("/proc").iterdir():
            try:
                if d.name.isdigit() and d.stat().st_uid == uid:  # zombies too: userdel counts them until reaped
                    out.append(int(d.name))
            except OSError:
                pass
        return out

    deadline = time.monotonic() + grace
    while pids() and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while pids() and time.monotonic() < deadline:
        time.sleep(0.1)


def plan(layout: Layout, *, remove_users: bool = False, remove_software: bool = False,
         remove_packages: bool = False, emit: Callable[[str], None] = print) -> list[Op]:
    """Every step of the undo, in order; nothing is changed until the ops are run."""
    state = layout.state_dir
    journal = Journal(state / "journal.jsonl")
    r = fold(journal.entries())
    ops: list[Op] = []

    # 1. services (and whatever an interrupted install left running)
    running = state / "running"
    if running.is_dir() and any(running.iterdir()):
        ops.append(Op(f"stop commands an interrupted install left running ({running})",
                      lambda: reap_leftovers(running, emit)))
    from .services import ProcessManager, SystemdManager
    pm = ProcessManager(layout.services_dir)
    names = set(pm.names()) | set(r.services)
    for name in sorted(names, key=lambda n: SERVICE_NAMES.index(n) if n in SERVICE_NAMES else -1):
        kind = r.services.get(name, "process")
        unit = Path("/etc/systemd/system") / f"jeg-{name}.service"
        if kind == "systemd":
            def stop_unit(name=name, unit=unit):
                SystemdManager(layout.services_dir).stop(name)  # and its user servers (KillMode=process keeps them)
                subprocess.run(["systemctl", "disable", "--now", unit.name], capture_output=True)
                unit.unlink(missing_ok=True)
                subprocess.run(["systemctl", "daemon-reload"], capture_output=True)
            ops.append(Op(f"stop service {name} and remove its unit {unit}", stop_unit))
        else:
            ops.append(Op(f"stop service {name} ({'running, pid ' + str(pm.pid(name)) if pm.pid(name) else 'not running'})",
                          lambda name=name: pm.stop(name)))

    # 2. files: created -> deleted; replaced -> the backup of the state before our first write
    for path, e in sorted(r.files.items()):
        p = Path(path)
        if _inside(p, state):
            continue  # goes with the state directory
        if e.get("created") or not e.get("backup"):
            if p.exists() or p.is_symlink():
                ops.append(Op(f"delete {p} (created by the install)", lambda p=p: (p.unlink(missing_ok=True), files.remove_stale_temps(p))))
        else:
            saved = Path(e["backup"])
            if not saved.exists():
                ops.append(Op(f"keep {p}: its backup {saved} is gone, so the original cannot be restored"))
                continue
            if files.read(p) == saved.read_bytes() and (e.get("mode") is None or (os.stat(p).st_mode & 0o7777) == e["mode"]):
                continue
            mode = e.get("mode") if e.get("mode") is not None else (os.stat(p).st_mode & 0o7777 if p.exists() else 0o644)
            owner = tuple(e["owner"]) if e.get("owner") else None

            def restore(p=p, saved=saved, mode=mode, owner=owner):
                files.atomic_write(p, saved.read_bytes(), mode, owner)
                files.remove_stale_temps(p)
            ops.append(Op(f"restore {p} as it was before the install (from {saved})", restore))

    # 3. our block out of files others own
    for path, e in sorted(r.blocks.items()):
        p = Path(path)
        cur = files.read(p)
        if cur is None or files.BEGIN.encode() not in cur:
            continue
        text = cur.decode("utf-8")
        new = files.remove_managed_block(text, bool(e.get("added_newline")))
        if e.get("created") and not new:
            ops.append(Op(f"delete {p} (created by the install, holds only our block)", lambda p=p: p.unlink(missing_ok=True)))
        else:
            mode = os.stat(p).st_mode & 0o7777
            owner = (os.stat(p).st_uid, os.stat(p).st_gid)
            ops.append(Op(f"remove the jeg-wizard block from {p} (every other line kept as it is)",
                          lambda p=p, new=new, mode=mode, owner=owner: files.atomic_write(p, new.encode(), mode, owner)))

    # 4. symlinks that still point where we set them
    for path, (first, last) in sorted(r.links.items()):
        p = Path(path)
        if p.is_symlink() and os.readlink(p) == last.get("target"):
            prev = first.get("previous")
            if prev:
                def relink(p=p, prev=prev):
                    p.unlink()
                    os.symlink(prev, p)
                ops.append(Op(f"point symlink {p} back to {prev}", relink))
            else:
                ops.append(Op(f"remove symlink {p} -> {last.get('target')}", lambda p=p: p.unlink()))
        elif p.is_symlink() or p.exists():
            ops.append(Op(f"keep {p}: it no longer points where the install set it"))

    # 5. leftovers of interrupted runs (temp trees, partial downloads): always
    for s in sorted(r.scratch):
        sp = Path(s)
        if (sp.exists() or sp.is_symlink()) and not _inside(sp, state):
            ops.append(Op(f"remove {sp} (left by an interrupted install)", lambda sp=sp: _rm(sp)))

    # 6. software trees: Spark, venvs, the proxy prefix
    for path, d in sorted(r.dirs.items()):
        p = Path(path)
        if not d["software"] or _inside(p, state) or not p.exists():
            continue
        if d["created"] and remove_software:
            ops.append(Op(f"remove {p} (installed software)", lambda p=p: _rm(p)))
        elif d["created"]:
            ops.append(Op(f"keep {p} (installed software; --remove-software removes it)"))
        elif d["venv"]:
            marker = p / ".jeg-wizard-requirements"
            if marker.exists():
                ops.append(Op(f"keep {p} (a venv that was there before; only our marker goes)", lambda m=marker: m.unlink(missing_ok=True)))

    # 7. users
    for name, created in sorted(r.users.items()):
        if not created or not _user_exists(name):
            continue
        if remove_users:
            def userdel(name=name):
                _end_processes_of(name)
                try:
                    _run(["userdel", "-r", name])
                except RuntimeError:
                    if _user_exists(name):  # else only the home was missing: the user is gone all the same
                        raise
            ops.append(Op(f"remove user {name} and its home (userdel -r)", userdel))
        else:
            ops.append(Op(f"keep user {name} (created by the install; --remove-users removes it)"))

    # 8. packages
    pkgs = _installed(r.packages)
    if pkgs and remove_packages:
        ops.append(Op(f"apt-get remove {' '.join(pkgs)} (installed by the install)",
                      lambda pkgs=pkgs: _run(["apt-get", "remove", "-y", "-q", *pkgs])))
    elif pkgs:
        ops.append(Op(f"keep packages {' '.join(pkgs)} (installed by the install; --remove-packages removes them)"))

    # 9. logs
    logs = [layout.install_log, *(layout.service_log(n) for n in SERVICE_NAMES)]
    for lg in logs:
        if lg.exists():
            ops.append(Op(f"delete {lg}", lambda lg=lg: lg.unlink(missing_ok=True)))

    # 10. the state directory (the journal goes last: an interrupted uninstall can be re-run)
    state_ours = r.dirs.get(str(state), {}).get("created", False)
    if state.exists():
        if state_ours:
            ops.append(Op(f"remove the state directory {state} (journal, backups, secrets)", lambda: shutil.rmtree(state)))
        else:
            def clean_state():
                for n in STATE_ENTRIES:
                    if n != "journal.jsonl":
                        _rm(state / n)
                (state / "journal.jsonl").unlink(missing_ok=True)
            ops.append(Op(f"remove what the install put in {state} (it was there before: kept)", clean_state))

    # 11. directories we created, deepest first, when empty (the log dir too)
    plain = [Path(p) for p, d in r.dirs.items() if d["created"] and not d["software"] and p != str(state)
             and not _inside(p, state)]
    if layout.log_dir not in plain and layout.log_dir.exists():
        plain.append(layout.log_dir)
    plain.sort(key=lambda p: len(p.parts), reverse=True)
    if plain:
        def rmdirs(plain=plain):
            for d in plain:
                try:
                    d.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    emit(f"kept {d}: not empty")
        ops.append(Op("remove the directories the install created, when empty: " + ", ".join(map(str, plain)), rmdirs))
    return ops


def run(ops: list[Op], emit: Callable[[str], None] = print) -> list[str]:
    """Do every op (one failing does not stop the others); returns the failures."""
    failed = []
    for op in ops:
        if op.do is None:
            emit(f"  {op.line}")
            continue
        try:
            op.do()
            emit(f"  done: {op.line}")
        except Exception as e:  # noqa: BLE001 - reported; the rest still runs
            failed.append(f"{op.line}: {e}")
            emit(f"  FAILED: {op.line}: {e}")
    return failed
