"""`jeg-wizard set KEY=VALUE...`: change settings of an install, touching only what they touch.

The old answers are the install's saved copy; the new ones are it (or --answers FILE) with the
assignments applied. In order, nothing changed until the diff is printed:
  1. validated: the answers model (every problem named), keys `set` does not change (REFUSED), the
     gate the install runs, and what the change would do: `set` only writes config files (and new
     directories for them) and restarts services; anything more (a venv, a package, an account, a
     download) is refused: that is `install`'s work, with its own resume.
  2. the diff of every file, the services it restarts and the ones it leaves alone;
  3. the steps that write those files and the steps of those services, through the engine (each
     write backed up and journaled first), then the health step's checks (the deep login -> Spark
     job with --verify);
  4. on any failure, the journal lines this run wrote say what to put back: every file restored
     from its backup (byte for byte, its mode and owner) or deleted when this run created it, then
     every service whose spec no longer matches the old answers restarted on them. The saved
     answers copy is replaced only on success.
Every wait is bounded (a service's start 90 s, its stop 40 s, each health probe 5 s).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .actions import Directory, EnvBlock, FileContent, ServiceRunning, fold, from_entry
from .actions.files import BlockRecord, DirRecord, FileRecord
from .actions.services import ServiceRecord
from .answers import Answers, AnswersError, dump
from .engine import Context, Engine, StepFailed, lock_state_dir, make_context, unlock_state_dir

# Keys `set` refuses whatever their value, with why and what to do instead (section.key or section.*).
_MOVE = "moves the install; to move it: jeg-wizard uninstall, then install with the new answers"
REFUSED: dict[str, str] = {
    **{
        k: _MOVE
        for k in (
            "system.prefix",
            "system.state_dir",
            "system.log_dir",
            "system.python",
            "java.home",
            "spark.home",
            "kernels.dir",
            "kernels.venv",
            "gateway.venv",
            "hub.venv",
            "hub.config_dir",
            "proxy.prefix",
            "environment.file",
        )
    },
    # a secret on a command line is in ps and the shell's history; set never changes a password
    **{
        f"users.admin_password_{k}": "`set` takes no secret or secret's source on its command line (visible in ps "
        "and the shell's history); change the admin's password with passwd, or in the answers file and run install"
        for k in ("env", "file", "hash")
    },
    "gateway.token_file": "a new token file means a new gateway token (every user server restarted): edit the "
    "answers file and run install",
    "site.*": "the hosts' roles: edit the answers file and run install on each host",
    "services.manager": "switching between systemd and supervised processes: edit the answers file and run install",
    "services.start": "`set` does not stop services: jeg-wizard services stop",
}

# what `set` may do; anything else pending is install's work (pip, apt, accounts, downloads)
ALLOWED = (FileContent, EnvBlock, Directory, ServiceRunning)


def refused_reason(key: str) -> str | None:
    return REFUSED.get(key) or REFUSED.get(key.split(".", 1)[0] + ".*")


# ------------------------------------------------------------------ the new answers


def _typed(section: str, key: str, raw: str):
    """VALUE as the key's type: text stays text; a number, true/false or [list] is read as TOML;
    a list also as comma-separated words. Unknown keys stay text (the model names them)."""
    from .answers import section_model, tomllib

    sec = section_model(section)
    fld = sec.model_fields.get(key) if sec else None
    default = fld.get_default(call_default_factory=True) if fld else ""
    if isinstance(default, str):
        return raw
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        if isinstance(default, list):
            return [w.strip() for w in raw.split(",") if w.strip()]
        return raw  # the model says what is allowed


def assign(data: dict, pairs: list[str]) -> tuple[dict, list[str]]:
    """The answers' TOML data with KEY=VALUE applied (a copy), and the keys assigned; AnswersError
    naming each bad pair (values of refused keys are never echoed: they may be secrets)."""
    problems, values = [], {}
    for pair in pairs:
        key, eq, raw = pair.partition("=")
        key = key.strip()
        if not eq or key.count(".") != 1 or not all(key.split(".")):
            shown = key if key.isprintable() and len(key) <= 60 else repr(key[:60])
            problems.append(
                f"{shown or '(empty)'}: expected SECTION.KEY=VALUE, e.g. hub.default_url=/tree "
                f"(sections: {', '.join(Answers.model_fields)})"
            )
            continue
        values[key] = _typed(*key.split("."), raw)
    try:
        out, keys = assign_values(data, values)
    except AnswersError as e:
        problems += e.problems
    if problems:
        raise AnswersError(problems)
    return out, keys


def assign_values(data: dict, values: dict) -> tuple[dict, list[str]]:
    """The answers' TOML data with {"section.key": typed value} applied (a copy), and the keys assigned;
    AnswersError naming each key `set` refuses, with why (the command line's pairs and the TUI's form)."""
    out = {s: dict(v) if isinstance(v, dict) else v for s, v in data.items()}
    problems, keys = [], []
    for key, value in values.items():
        why = refused_reason(key)
        if why:
            problems.append(f"{key}: not changed by `set`: {why}")
            continue
        section, name = key.split(".")
        if not isinstance(out.setdefault(section, {}), dict):
            out[section] = {}
        out[section][name] = value
        keys.append(key)
    if problems:
        raise AnswersError(problems)
    return out, keys


def changed_keys(old: Answers, new: Answers) -> list[str]:
    a, b = dump(old), dump(new)
    return [f"{s}.{k}" for s in b for k in b[s] if a.get(s, {}).get(k) != b[s][k]]


# ------------------------------------------------------------------ what the change does


@dataclass
class Change:
    old: Context
    new: Context
    steps: list  # the steps to run, in install order
    writes: list  # (the pending file action (FileContent, EnvBlock), its step)
    restart: list[str]  # services restarted (or started)
    keep: dict[str, int | None] = field(default_factory=dict)  # service -> pid, left alone
    keys: list[str] = field(default_factory=list)


def _recorded_spec(services_dir: Path, name: str) -> dict | None:
    try:
        data = json.loads((services_dir / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
    data.pop("digest", None)
    return data


def _spec_changed(action: ServiceRunning, files: set[str]) -> bool:
    """The service reads a file about to change, or its own spec (argv, env, ports) differs."""
    spec = action.spec
    reads = {*spec.config_files, *([spec.env_file] if spec.env_file else [])}
    recorded = _recorded_spec(action.services_dir, spec.name)
    return bool(reads & files) or recorded != json.loads(json.dumps(asdict(spec)))


def prepare(old: Answers, new: Answers, steps, role: str = "all", dry_run: bool = False) -> Change:
    """The plan of the change, looked at on the machine; AnswersError when `set` would not do it."""
    from . import preflight
    from .secrets import SecretError

    keys = changed_keys(old, new)
    bad = [f"{k}: not changed by `set`: {refused_reason(k)}" for k in keys if refused_reason(k)]
    if bad:
        raise AnswersError(bad)
    ctx = make_context(new, role=role, log_to_file=not dry_run)  # a dry run leaves no trace
    octx = make_context(old, ctx.runner, role=role)
    for c in (ctx, octx):
        try:  # set never changes the admin's password: known or not, it is only used by --verify
            c.secrets.admin_password()
        except SecretError:
            c.secrets.set_admin_password(None)
    engine = Engine(ctx, steps)
    states = {s.step.id: s for s in (engine.inspect(step, deep=False) for step in steps)}
    other = [
        f"{a.title} ({s.step.id})"
        for s in states.values()
        for a in s.pending
        if not a.verify_only
        and (not isinstance(a, ALLOWED) or (isinstance(a, Directory) and a.path.exists()))  # chmod/chown: no undo
    ]
    if other:
        raise AnswersError(
            [
                f"{', '.join(keys) or 'this change'}: `set` only writes config files and restarts services; "
                f"this change also needs: {'; '.join(other)}; edit the answers file and run: jeg-wizard install "
                f"--answers FILE"
            ]
        )
    writes = [(a, s.step) for s in states.values() for a in s.pending if isinstance(a, (FileContent, EnvBlock))]
    files = {str(a.path) for a, _ in writes}
    run, restart, keep = [], [], {}
    for step in steps:
        st = states[step.id]
        services = [a for a in st.actions if isinstance(a, ServiceRunning)]
        moved = [a for a in services if _spec_changed(a, files) or a in st.pending]
        if step.id != "health" and (st.changes or moved):
            run.append(step)
        restart += [a.spec.name for a in moved]
        keep |= {a.spec.name: a.mgr(ctx.runner).pid(a.spec.name) for a in services if a not in moved}
    if not dry_run:
        problems = preflight.gate(new, run, role=role)
        if problems:
            raise AnswersError(problems)
    return Change(octx, ctx, run, writes, restart, keep, keys)


NOTHING = "nothing to change: the install already has these settings"


def assignments(change: Change) -> list[str]:
    """One line per changed key: its old and new value (`set` never changes a secret's key)."""
    a, b = dump(change.old.answers), dump(change.new.answers)
    return [
        f"set {key}: {a.get(s, {}).get(k)!r} -> {b.get(s, {}).get(k)!r}"
        for key in change.keys
        for s, k in [key.split(".")]
    ]


def render(change: Change) -> str:
    """Every file it would change (secrets masked), and what restarts."""
    out = []
    for action, step in change.writes:
        out.append(f"# the {step.id} step writes {action.path}:")
        out += [line.rstrip("\n") for line in action.preview(change.new) if line]
    out.append(f"restart: {', '.join(change.restart) or 'nothing'}")
    if change.keep:
        out.append(
            "left running: "
            + ", ".join(f"{n} (pid {p})" if p else f"{n} (not running)" for n, p in change.keep.items())
        )
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ applying it, and putting it back


@dataclass
class Outcome:
    ok: bool
    message: str
    rollback_seconds: float | None = None
    put_back: bool = True  # a failure: everything is as before it (files, services, health)


def failure(outcome: Outcome) -> str:
    """What a failed change says: whether everything was put back, then what failed and the rollback."""
    said = "nothing of it is left" if outcome.put_back else "and putting it back did not go cleanly"
    return f"set FAILED; {said} (the saved answers unchanged):\n{outcome.message}"


def health(ctx: Context, verify: bool) -> None:
    """The health step's checks (the deep ones with --verify); raises naming what failed."""
    from jeg_wizard.steps import health as health_step

    for action in health_step.STEP.build(ctx):
        if action.verify_only and (verify or not getattr(action, "deep", False)):
            ctx.runner.emit(f"-- {action.title}")
            action.apply(ctx)


def apply(change: Change, verify: bool = False) -> Outcome:
    ctx = change.new
    state = ctx.layout.state_dir
    lock_state_dir(state)  # held through the rollback: no other run in between
    try:
        mark = len(ctx.journal.entries())
        engine = Engine(ctx, change.steps)
        try:
            for step in change.steps:
                engine.run_step(step)
            health(ctx, verify)
        except (Exception, KeyboardInterrupt) as e:
            t0 = time.monotonic()
            if not isinstance(e, StepFailed):  # a step's failure the engine has said already, log tail included
                ctx.runner.emit(f"!! {e}")
            ctx.runner.emit("== rollback: putting back what this run changed")
            done, problems = rollback(change, mark)
            secs = time.monotonic() - t0
            ctx.journal.write({"kind": "note", "what": f"set rolled back: {', '.join(change.keys)}"})
            if isinstance(e, KeyboardInterrupt):
                raise
            # its first line names it (a log's tail follows, printed above already)
            cause = f"step '{e.state.step.id}' failed: {e.cause}" if isinstance(e, StepFailed) else str(e) or repr(e)
            after = "healthy again" if not problems else "NOT healthy again: " + "; ".join(problems)
            lines = [cause.splitlines()[0].removesuffix(":"), *held_ports(change)]
            lines.append(f"rolled back in {secs:.1f}s ({'; '.join(done) or 'nothing had changed'}); {after}")
            return Outcome(False, "\n".join(f"  {line}" for line in lines), secs, put_back=not problems)
        return Outcome(True, f"restarted: {', '.join(change.restart) or 'nothing'}")
    finally:
        unlock_state_dir(state)


def held_ports(change: Change) -> list[str]:
    """Ports the change moved a service to that another program holds (ours are back on the old ones)."""
    from .preflight import port_in_use

    had = {p for ports in change.old.layout.ports.values() for p in ports}
    return [
        f"{key}: port {port} on {ip} is in use by another program"
        for ports in change.new.layout.ports.values()
        for key, ip, port in ports
        if (key, ip, port) not in had and port_in_use(ip, port)
    ]


def rollback(change: Change, mark: int, before_restart=None) -> tuple[list[str], list[str]]:
    """Undo what the journal's lines from `mark` on say, then restart on the old answers; (what was
    done, what is still wrong). before_restart(): with the files back and the services not yet started,
    a last look (upgrade compares the files' sha256 with before); the problems it returns."""
    ctx, octx = change.new, change.old
    runner = ctx.runner
    records = fold([r for r in map(from_entry, ctx.journal.entries()[mark:]) if r is not None])
    restored, problems, dirs = [], [], []
    for r in records:
        try:
            if isinstance(r, (FileRecord, BlockRecord)):
                p = Path(r.path)
                if r.created or not r.backup:
                    runner.remove(p)
                    restored.append(f"deleted {p}")
                else:
                    owner = tuple(r.owner) if r.owner else None
                    runner.write(p, Path(r.backup).read_bytes(), r.mode if r.mode is not None else 0o644, owner)
                    restored.append(f"restored {p}")
            elif isinstance(r, DirRecord) and r.created:
                dirs.append(Path(r.path))
            elif not isinstance(r, ServiceRecord):  # prepare() refused every other kind
                problems.append(f"cannot put back: {r.kind} {getattr(r, 'path', '')}")
        except OSError as e:
            problems.append(f"{r.path}: {e}")
    for d in sorted(dirs, key=lambda d: len(d.parts), reverse=True):
        try:
            runner.rmdir(d)
        except OSError:
            pass  # not empty: something else is in it now
    if before_restart:
        problems += before_restart()
    restarted = []
    for step in change.steps:
        for action in step.build(octx):
            if isinstance(action, ServiceRunning) and not action.done(octx):
                try:
                    action.apply(octx)
                    restarted.append(action.spec.name)
                except Exception as e:  # noqa: BLE001 - the others are still restarted; reported
                    problems.append(f"{action.spec.name} did not start again: {e}")
    try:
        health(octx, verify=False)
    except Exception as e:  # noqa: BLE001 - reported
        problems.append(str(e))
    done = [f"{len(restored)} file{'s' if len(restored) != 1 else ''} put back"] if restored else []
    return done + ([f"restarted {', '.join(restarted)}"] if restarted else []), problems


def save_answers(layout, new_data: dict, text: bytes | None = None) -> None:
    """The install's saved copy of the answers (no secrets in them), replaced after a success only:
    an edited file as it is (its comments kept), else the new data."""
    import tomli_w

    from . import files

    files.atomic_write(layout.saved_answers, text or tomli_w.dumps(new_data).encode(), 0o600)
