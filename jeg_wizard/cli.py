"""Command line: `jeg-wizard` (TUI), `--unattended ANSWERS`, `install`, `plan`, `answers --example`,
`services start|stop|restart|status`."""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__

# --version and --help answer before anything heavy is imported (the answers model, pydantic, alone
# takes longer than the interpreter's start, and even pathlib and typing cost): each command imports
# what it uses.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from .answers import Answers

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def example_answers() -> str:
    """The commented example, with the defaults this machine gets (the Java its distribution ships)."""
    from importlib import resources

    from . import distro

    text = (resources.files("jeg_wizard.templates") / "answers.example.toml").read_text()
    text = text.replace("[java]\nversion = 17 ", f"[java]\nversion = {distro.default_java()} ", 1)
    spark = distro.default_spark(sys.version_info[:2])  # the wizard runs on the distribution's python
    return text.replace('\nversion = "4.3.0"\n', f'\nversion = "{spark}"\n', 1)


def _load_answers(path: str | None) -> Answers:
    from .answers import Answers, load

    return load(path) if path else Answers()


def _err(msg: str) -> None:
    print(f"jeg-wizard: {msg}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="jeg-wizard",
        description="Install JupyterHub + Jupyter Enterprise Gateway + Spark on this host. "
        "With no command: the interactive wizard.",
    )
    p.add_argument("--version", action="version", version=f"jeg-wizard {__version__}")
    p.add_argument("--unattended", metavar="ANSWERS", help="install from an answers file, no TUI")
    p.add_argument("--answers", metavar="FILE", help="pre-fill the wizard from an answers file")
    p.add_argument("--verify", action="store_true", help="with --unattended: as install --verify")
    p.add_argument("--bundle", metavar="FILE", help="with --unattended: as install --bundle")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    i = sub.add_parser("install", help="install (from an answers file, or the defaults)")
    i.add_argument("--unattended", metavar="ANSWERS", help="answers file; no questions asked")
    i.add_argument("--answers", metavar="FILE", help="answers file (questions only for a missing password)")
    i.add_argument("--only", metavar="STEP", action="append", help="run only these steps (repeatable)")
    i.add_argument(
        "--verify",
        action="store_true",
        help="also run the end-to-end checks (Spark jobs) when nothing changed (a run that changes something does)",
    )
    i.add_argument(
        "--bundle",
        metavar="FILE",
        help="an offline bundle (jeg-wizard bundle): packages come only from it, no network is used",
    )
    _site_args(i, join=True)

    b = sub.add_parser("bundle", help="gather everything an install of ANSWERS needs into one file, for offline hosts")
    b.add_argument("answers", metavar="ANSWERS", help="the answers file the target will install")
    b.add_argument("-o", "--output", metavar="FILE", required=True, help="the bundle to write (a .tar)")

    pl = sub.add_parser("plan", help="dry run: the steps, their state, commands and file diffs")
    pl.add_argument("answers", nargs="?", metavar="ANSWERS", help="answers file (default: the defaults)")
    pl.add_argument("--brief", action="store_true", help="steps and states only")
    _site_args(pl, join=True)

    an = sub.add_parser("answers", help="answers files")
    an.add_argument("--example", action="store_true", help="print a commented example answers file")
    an.add_argument("--check", metavar="FILE", help="validate a file and exit")

    st = sub.add_parser("status", help="the status screen; --json for monitoring (exit 0 healthy, 1 degraded, 2 down)")
    st.add_argument("--json", action="store_true", help="machine-readable, no screen")
    st.add_argument("--answers", metavar="FILE", help="answers of the install (default: the copy in the state dir)")
    st.add_argument("--timeout", type=float, default=3.0, help="seconds per probe (default 3)")
    _site_args(st)

    dr = sub.add_parser("doctor", help="one line per check, with the cause and the fix")
    dr.add_argument("--answers", metavar="FILE", help="answers of the install (default: the copy in the state dir)")
    dr.add_argument("--timeout", type=float, default=3.0, help="seconds per probe (default 3)")
    dr.add_argument("--smoke", action="store_true", help="also start a Spark kernel on the gateway and run a job")
    _site_args(dr)

    un = sub.add_parser("uninstall", help="undo what the install did, as its journal says (--dry-run: the list only)")
    un.add_argument("--dry-run", action="store_true", help="print what would be undone; change nothing")
    un.add_argument(
        "--remove-users", action="store_true", help="also remove the users the install created (userdel -r)"
    )
    un.add_argument(
        "--remove-software",
        action="store_true",
        help="also remove Spark, the venvs and the proxy the install put under the prefix",
    )
    un.add_argument("--remove-packages", action="store_true", help="also apt-get remove the packages the install added")
    un.add_argument("--answers", metavar="FILE", help="answers of the install (default: the copy in the state dir)")
    un.add_argument(
        "--state-dir", default="/var/lib/jeg-wizard", help="system.state_dir of the install, where its answers copy is"
    )

    us = sub.add_parser("users", help="hub users in bulk: PAM accounts plus the hub's allow list")
    us.add_argument("action", choices=["add", "remove"])
    us.add_argument("names", nargs="*", help="remove: the users (or --csv)")
    us.add_argument("--csv", metavar="FILE", help="one user per line: name[,admin[,password_hash]]")
    us.add_argument(
        "--passwords",
        metavar="FILE",
        help="add: where the new accounts' generated passwords go (0600; default: in the state dir)",
    )
    us.add_argument("--answers", metavar="FILE", help="answers of the install (default: the copy in the state dir)")

    se = sub.add_parser(
        "set",
        help="change settings of the install: only what they touch is rewritten and restarted, "
        "all of it put back when the health checks fail",
    )
    se.add_argument(
        "assignments", nargs="*", metavar="KEY=VALUE", help="e.g. hub.default_url=/tree gateway.max_kernels=32"
    )
    se.add_argument(
        "--answers",
        metavar="FILE",
        help="the answers to start from (default: the install's saved copy); an edited copy applies its changes",
    )
    se.add_argument("--dry-run", action="store_true", help="print the diff and what would restart; change nothing")
    se.add_argument("--verify", action="store_true", help="also log in as the admin and run a Spark job after it")

    ug = sub.add_parser(
        "upgrade",
        help="move the hub, gateway and kernel environments to a release set: deltas, refusals, backup, "
        "built beside, switched atomically, health-checked, switched back on a failure",
    )
    ug.add_argument("--to", metavar="RELEASE", help="the release set (default: the current one; see --list)")
    ug.add_argument("--list", action="store_true", help="the release sets this wizard knows, with their pins")
    ug.add_argument("--dry-run", action="store_true", help="print the deltas and the refusals; change nothing")
    ug.add_argument(
        "--quick",
        action="store_true",
        help="after the switch, the quick health checks only (not the admin's login and a Spark job)",
    )
    ug.add_argument("--answers", metavar="FILE", help="answers of the install (default: the copy in the state dir)")

    bk = sub.add_parser("backup", help="one archive (0600) of the hub database, secrets, configs, users; --homes too")
    bk.add_argument("-o", "--output", metavar="FILE", help="the archive to write (default: in the state dir's backups)")
    bk.add_argument("--homes", action="store_true", help="also the hub users' home directories (their notebooks)")
    _passphrase_args(bk, "encrypt the archive (AES-256-GCM, scrypt) with a passphrase")
    bk.add_argument("--answers", metavar="FILE", help="answers of the install (default: the copy in the state dir)")

    rs = sub.add_parser("restore", help="verify a backup, then install from its answers and put its contents back")
    rs.add_argument("archive", metavar="FILE", help="an archive `jeg-wizard backup` wrote")
    _passphrase_args(rs, "the passphrase of an encrypted archive")
    rs.add_argument(
        "--answers",
        metavar="FILE",
        help="install with these answers instead of the archived ones (other paths or ports on the new machine)",
    )

    sv = sub.add_parser("services", help="start, stop or restart what the install set up")
    sv.add_argument("action", choices=["start", "stop", "restart", "status"])
    sv.add_argument("names", nargs="*", help="gateway, hub, spark-master, spark-worker (default: all)")
    sv.add_argument("--state-dir", default="/var/lib/jeg-wizard", help="system.state_dir of the install")
    return p


WHAT = {
    "state_dir": "a directory",
    "archive": "a backup archive",
    "passphrase_file": "a passphrase file",
    "bundle": "a bundle file",
    "output": "the file to write",
    "csv": "a CSV file",
    "passwords": "the file to write",
}


def _passphrase_args(p: argparse.ArgumentParser, what: str) -> None:
    # never the passphrase itself as an argument: argv is readable by every user (ps, /proc)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--passphrase-file", metavar="FILE", help=f"{what}: read from FILE (mode 0600)")
    g.add_argument("--passphrase-env", metavar="VAR", help=f"{what}: read from the environment variable VAR")


def _site_args(p: argparse.ArgumentParser, join: bool = False) -> None:
    """Roles on separate hosts (the answers' [site]): this host's part, and the hub host's join file."""
    p.add_argument(
        "--role",
        metavar="ROLE",
        help="this host's part of a site of several hosts: gateway, hub or worker (default: found from this "
        "host's addresses; all without [site] in the answers)",
    )
    if join:
        p.add_argument(
            "--join",
            metavar="FILE",
            help="the hub host: the join file the gateway host's install wrote (gateway URL, token, CA; mode 0600)",
        )


def _empty_paths(args) -> list[str]:
    """A file option given as "" (an unset variable in a script) must not mean "the defaults"."""
    flags = {
        "unattended": "--unattended",
        "answers": "--answers",
        "check": "--check",
        "state_dir": "--state-dir",
        "join": "--join",
        "bundle": "--bundle",
        "output": "--output",
        "csv": "--csv",
        "passwords": "--passwords",
        "archive": "restore",
        "passphrase_file": "--passphrase-file",
    }
    out = [
        f"{flag}: an empty path was given; give the path of {WHAT.get(key, 'an answers file')}"
        for key, flag in flags.items()
        if getattr(args, key, None) == ""
    ]
    if args.command in ("plan", "bundle") and args.answers == "":
        out = [f"{args.command}: an empty path was given; give the path of an answers file"]
    return out


def run() -> None:
    """The `jeg-wizard` command. Exits without the interpreter's last collection of every object
    the imports made (gc.freeze): a tenth of a second of a `status --json` on this machine."""
    import gc

    code = main()
    gc.freeze()
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    if (sys.argv[1:] if argv is None else argv) == ["--version"]:  # building the parser took a quarter of it
        print(f"jeg-wizard {__version__}")
        return EXIT_OK
    args = _parser().parse_args(argv)
    from .answers_base import AnswersError
    from .join import JoinError

    try:
        empty = _empty_paths(args)
        if empty:
            raise AnswersError(empty)
        if args.command == "answers":
            return cmd_answers(args)
        if args.command == "plan":
            return cmd_plan(_load_answers(args.answers), brief=args.brief, role=args.role, join=args.join)
        if getattr(args, "bundle", None) and not (args.command == "install" or args.unattended):
            raise AnswersError(["--bundle: only with `install` or `--unattended ANSWERS` (the TUI installs online)"])
        if args.command == "install" or args.unattended:
            path = args.unattended or getattr(args, "answers", None)
            unattended = bool(args.unattended)
            return cmd_install(
                path,
                unattended=unattended,
                only=getattr(args, "only", None),
                verify=args.verify,
                role=getattr(args, "role", None),
                join=getattr(args, "join", None),
                bundle=args.bundle,
            )
        if args.command == "bundle":
            from . import bundling

            return bundling.main(_load_answers(args.answers), args.output)
        if args.command == "services":
            return cmd_services(args)
        if args.command == "users":
            return cmd_users(args)
        if args.command == "set":
            return cmd_set(args)
        if args.command == "upgrade":
            return cmd_upgrade(args)
        if args.command == "backup":
            return cmd_backup(args)
        if args.command == "restore":
            return cmd_restore(args)
        if args.command == "uninstall":
            return cmd_uninstall(args)
        if args.command in ("status", "doctor"):
            return cmd_status(args)
        return cmd_tui(args.answers)
    except AnswersError as e:
        said = {"set": "set: refused", "upgrade": "upgrade: refused"}.get(args.command, "the answers are not valid")
        _err(f"{said}; nothing was changed:")
        for problem in e.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_USAGE
    except JoinError as e:
        _err("the join file is not valid; nothing was changed:")
        for problem in e.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        _err("interrupted")
        return 130


def cmd_answers(args) -> int:
    from .answers import load

    if args.check:
        load(args.check)
        print(f"{args.check}: valid")
        return EXIT_OK
    if args.example:
        sys.stdout.write(example_answers())
        return EXIT_OK
    _err("answers: give --example or --check FILE")
    return EXIT_USAGE


def _steps(role: str = "all"):
    from jeg_wizard.steps import for_role

    return for_role(role)


def _site(answers: Answers, role: str | None, join: str | None):
    """(this host's role, the join file read and checked): AnswersError / JoinError before any change."""
    from . import roles
    from .answers import AnswersError
    from .layout import Layout

    role = roles.detect(answers, role)
    if join is None:
        return role, None
    if role != "hub":
        raise AnswersError([f"--join: only the hub host takes a join file; this host's role is {role}"])
    from . import join as join_file

    return role, join_file.read(join, Layout(answers, role))


def _not_joined(answers: Answers, role: str, joined) -> list[str]:
    """The hub host's first install needs the gateway host's join file (a re-run finds its token)."""
    from .layout import Layout

    L = Layout(answers, role)
    if role != "hub" or joined is not None or L.gateway_token_file.exists():
        return []
    return [
        f"--join: this is the hub host and it has no gateway token yet ({L.gateway_token_file}); copy the join "
        f"file the gateway host's install wrote ({L.join_file} there) here, chmod 600 it, and run: "
        "jeg-wizard install --join FILE ..."
    ]


def cmd_plan(answers: Answers, brief: bool = False, role: str | None = None, join: str | None = None) -> int:
    from .answers import AnswersError
    from .engine import Engine, make_context
    from .plan import render_plan
    from .secrets import SecretError

    role, joined = _site(answers, role, join)
    ctx = make_context(answers, dry_run=True, role=role, join=joined)
    try:
        missing = ""
        if ctx.layout.runs("hub"):
            ctx.secrets.admin_password()
    except SecretError as e:  # plan what a given password would do, and say what is missing
        missing = str(e)
        ctx.secrets._cache["admin"] = "(not given)"
    engine = Engine(ctx, _steps(role))
    try:
        text = render_plan(engine.plan(), ctx, brief=brief)
    except SecretError as e:  # e.g. a token file others can read: the plan cannot show what would be written
        raise AnswersError([str(e)]) from None
    sys.stdout.write(text)
    if missing:
        print(f"note: {missing}: the install refuses to start until it is given")
    for line in _not_joined(answers, role, joined):
        print(f"note: {line}")
    return EXIT_OK


def _admin_without_password(a: Answers, given: str | None) -> list[str]:
    """A new admin account needs a password, or nobody can log in to the hub it was made for."""
    from .actions.users import user_exists

    u = a.users
    if given or u.admin_password_hash or user_exists(u.admin):
        return []
    return [
        f"users.admin_password_file, users.admin_password_env or users.admin_password_hash: the hub admin "
        f"'{u.admin}' does not exist on this machine yet; give one of them so {u.admin} can log in"
    ]


def _open_bundle(path: str):
    """Unpacked and verified (a bar while it goes), or BundleError naming what is wrong."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from .bundle import unpack

    with Progress(TextColumn("bundle"), BarColumn(), DownloadColumn(), transient=True) as bar:
        task = bar.add_task("unpack", total=None)
        return unpack(path, progress=lambda done, total: bar.update(task, completed=done, total=total))


def cmd_install(
    path: str | None,
    *,
    unattended: bool,
    only: list[str] | None,
    verify: bool = False,
    role: str | None = None,
    join: str | None = None,
    bundle: str | None = None,
    answers: Answers | None = None,
    before=None,
) -> int:
    """answers: already loaded (restore); before(ctx): runs once nothing refused the install, before its
    steps (restore puts the archive's secrets and database in place there: the steps find them)."""
    from . import preflight
    from .answers import AnswersError
    from .engine import Engine, StepFailed, make_context
    from .secrets import SecretError

    answers = answers or _load_answers(path)  # raises AnswersError before anything changes
    role, joined = _site(answers, role, join)  # and JoinError
    steps = _steps(role)
    if only:
        unknown = sorted(set(only) - {s.id for s in steps})
        if unknown:
            raise AnswersError([f"--only: no step {', '.join(unknown)}; steps: {', '.join(s.id for s in steps)}"])
    offline = None
    if bundle:
        from .bundle import BundleError

        try:
            offline = _open_bundle(bundle)
        except BundleError as e:
            _err(f"cannot start; nothing was changed: {e}")
            return EXIT_USAGE
    problems = preflight.gate(answers, [s for s in steps if not only or s.id in only], role=role, bundle=offline)
    problems += _not_joined(answers, role, joined)
    interactive = not unattended and sys.stdin.isatty()
    ctx = make_context(
        answers,
        interactive=interactive,
        log_to_file=not problems,
        verify=verify,
        role=role,
        join=joined,
        bundle=offline,
    )
    try:  # the hub's admin (other hosts of a site have no hub users)
        given = ctx.secrets.admin_password() if ctx.layout.runs("hub") else None  # now, not half-way
    except SecretError as e:
        problems.append(str(e))
    else:
        if ctx.layout.runs("hub"):
            problems += _admin_without_password(answers, given)
    if problems:
        _err("cannot start; nothing was changed:")
        for p in problems:
            print(f"  - {p}", file=sys.stderr)
        return EXIT_USAGE

    from .progress import PlainReporter, RichReporter

    ctx.journal.ensure()  # the state dir, journaled as ours
    _save_answers(ctx, path)  # now: `uninstall` finds it even when this run is interrupted
    if before:
        before(ctx)
    engine = Engine(ctx, steps)
    chosen = [s for s in steps if not only or s.id in only]
    reporter = RichReporter(len(chosen)) if sys.stdout.isatty() else PlainReporter()
    unsubscribe = ctx.runner.subscribe(reporter.line)
    engine.listeners.append(reporter.event)
    log = ctx.layout.install_log
    try:
        with reporter:
            states = engine.install(set(only) if only else None)
    except StepFailed as e:
        _err(f"step '{e.state.step.id}' failed: {e.cause}")
        print(
            f"Full log: {log}. Fix the cause and run the same command again: finished steps are skipped.",
            file=sys.stderr,
        )
        return EXIT_FAIL
    finally:
        unsubscribe()
    _save_answers(ctx, path)
    L = ctx.layout
    changed = sum(1 for s in states if s.status == "ok")
    print(f"\nInstall complete ({changed} steps did work, {len(states) - changed} were already done). Log: {log}")
    if answers.services.start and not only and L.runs("hub"):
        print(
            f"Log in at {L.public_hub_url}/hub/login as {answers.users.admin}: "
            f"{L.public_hub_url}/user/{answers.users.admin}/lab (lab) or /tree (notebooks)"
        )
    from . import class_archive

    archive = L.kernel_jvm_archive if L.runs("gateway") else None
    if archive is not None and class_archive.builder(archive) is not None:
        print(
            f"Kernels' JVM class archive: being written in the background ({L.class_archive_log}); kernels start "
            "about twice as fast once it is (`jeg-wizard doctor` says when)."
        )
    if role == "gateway" and L.join_file.exists():
        print(
            f"Join file for the hub host ({answers.site.hub_host}): {L.join_file} (mode 0600: it holds the gateway "
            f"token). Copy it there privately, then on the hub host: jeg-wizard install --join FILE ..."
        )
    return EXIT_OK


def _save_answers(ctx, path: str | None) -> None:
    """A copy of the answers used (no secrets in them), for `services`, status and a replay."""
    from pathlib import Path

    from . import files

    text = Path(path).read_bytes() if path else example_answers().encode()
    files.atomic_write(ctx.layout.saved_answers, text, 0o600)


SAVED_ANSWERS = "/var/lib/jeg-wizard/answers.toml"


def cmd_status(args) -> int:
    from pathlib import Path

    from . import roles
    from .layout import Layout

    path = args.answers or SAVED_ANSWERS
    if not args.answers and not Path(path).exists():
        _err(f"no install found ({path} is missing); give --answers FILE")
        return 2
    if args.command == "status" and not args.json:
        from .answers import load

        answers = load(path)  # the screen's Change settings edits them: the model itself
        layout = Layout(answers, roles.detect(answers, args.role))
        try:
            from .tui.status import run_status
        except ImportError as e:
            return _screens_missing(e, "or read the same checks as text: jeg-wizard doctor")
        return run_status(layout, args.timeout)
    from . import answers_cache, doctor

    # they only read the answers: as last validated (answers_cache), without importing the model
    answers = answers_cache.load(path)
    layout = Layout(answers, roles.detect(answers, args.role))
    # --timeout bounds the answer for a monitor counting from the command's start: what the start
    # took (the interpreter, the answers model) comes off the probes' time, down to half a second
    probes = max(0.5, args.timeout - _since_start())
    return doctor.main(layout, probes, as_json=getattr(args, "json", False), smoke=getattr(args, "smoke", False))


def _since_start() -> float:
    """Seconds since this process started (/proc: the interpreter's start included); 0 if unknown."""
    import time

    try:
        ticks = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def cmd_uninstall(args) -> int:
    from pathlib import Path

    from . import uninstall
    from .answers import AnswersError, load
    from .layout import Layout

    path = args.answers or str(Path(args.state_dir) / "answers.toml")
    if not args.answers and not Path(path).exists():
        _err(f"no install found ({path} is missing); give --answers FILE or --state-dir DIR")
        return EXIT_USAGE
    if args.answers:
        answers = load(path)  # an error exits 2 naming the field
    else:
        try:
            answers = load(path)
        except AnswersError:  # the saved copy may no longer validate (e.g. a tarball since deleted): its paths suffice
            answers = _paths_only(path)
    layout = Layout(answers)
    journal = layout.state_dir / "journal.jsonl"
    if not journal.exists():
        _err(f"nothing to undo: no journal at {journal} (system.state_dir of the install?)")
        return EXIT_FAIL
    if os.geteuid() != 0 and not args.dry_run:
        _err("run as root (sudo): uninstall stops services, restores system files and removes users")
        return EXIT_USAGE
    if not args.dry_run:
        from .engine import lock_state_dir

        try:
            lock_state_dir(layout.state_dir)
        except RuntimeError as e:
            _err(str(e))
            return EXIT_FAIL
    ops = uninstall.plan(
        layout,
        remove_users=args.remove_users,
        remove_software=args.remove_software,
        remove_packages=args.remove_packages,
    )
    if args.dry_run:
        print(f"Uninstall would (journal {journal}):")
        for op in ops:
            print(f"  {op.line}" if op.do else f"  ({op.line})")
        print("Nothing was changed (dry run).")
        return EXIT_OK
    print(f"Uninstalling (journal {journal}):")
    failed = uninstall.run(ops)
    if failed:
        _err(f"{len(failed)} of {len(ops)} uninstall steps failed; fix the cause and run the same command again:")
        for f in failed:
            print(f"  - {f}", file=sys.stderr)
        return EXIT_FAIL
    print("Uninstall complete.")
    return EXIT_OK


def _paths_only(path: str) -> Answers:
    """The saved answers' directories only, for an uninstall when the rest no longer validates."""
    from .answers import Answers, load, load_data

    data, _ = load_data(path)
    keep = {
        "system": ["prefix", "state_dir", "log_dir"],
        "hub": ["config_dir"],
        "environment": ["file"],
        "kernels": ["dir", "name"],
        "services": ["manager"],
    }
    try:
        return Answers.model_validate(
            {
                s: {k: v for k, v in data.get(s, {}).items() if k in ks}
                for s, ks in keep.items()
                if isinstance(data.get(s, {}), dict)
            }
        )
    except ValueError:
        return load(path)  # raises AnswersError naming the keys


def cmd_set(args) -> int:
    """Settings changed on an installed box (jeg_wizard.settings): validated, diffed, applied, rolled back on failure."""
    import time
    from pathlib import Path

    from . import roles, settings
    from .answers import AnswersError, load, load_data, parse
    from .layout import Layout

    t0 = time.monotonic()
    if not args.assignments and not args.answers:
        raise AnswersError(
            ["set: give settings as KEY=VALUE (e.g. hub.default_url=/tree), or --answers FILE (edited answers)"]
        )
    base = args.answers or SAVED_ANSWERS
    if not args.answers and not Path(base).exists():
        _err(f"no install found ({base} is missing); give --answers FILE")
        return EXIT_USAGE
    data, _ = load_data(base)
    data, assigned = settings.assign(data, args.assignments)
    new = parse(data)
    saved = Layout(new).saved_answers
    if not saved.exists():
        raise AnswersError([f"system.state_dir: no install there ({saved} is missing); `set` changes an installed box"])
    if os.geteuid() != 0 and not args.dry_run:
        _err("run as root (sudo): set rewrites config files and restarts services")
        return EXIT_USAGE
    old = load(saved)
    role = roles.detect(new, None)
    change = settings.prepare(old, new, _steps(role), role=role, dry_run=args.dry_run)
    if not change.keys:
        print(f"set: {settings.NOTHING}")
        return EXIT_OK
    print("\n".join(settings.assignments(change)))
    sys.stdout.write(settings.render(change))
    if args.dry_run:
        print("Nothing was changed (dry run).")
        return EXIT_OK
    unsubscribe = change.new.runner.subscribe(lambda line: print(f"  {line}", flush=True))
    try:
        outcome = settings.apply(change, verify=args.verify)
    finally:
        unsubscribe()
    if not outcome.ok:
        _err(settings.failure(outcome))
        return EXIT_FAIL
    settings.save_answers(Layout(new), data, None if assigned else Path(base).read_bytes())
    print(f"set: done in {time.monotonic() - t0:.1f}s; {outcome.message}; saved answers: {saved}")
    if args.answers and assigned and Path(args.answers).resolve() != saved.resolve():
        print(f"note: {args.answers} still says the old values; {saved} has the new ones")
    return EXIT_OK


def cmd_users(args) -> int:
    """Bulk users (jeg_wizard.hub_users): all of the input checked, then accounts, roster, one hub restart."""
    import argparse
    import time
    from pathlib import Path

    from . import hub_users
    from .answers import AnswersError, load
    from .engine import make_context
    from .layout import Layout

    t0 = time.monotonic()
    path = args.answers or SAVED_ANSWERS
    if not args.answers and not Path(path).exists():
        _err(f"no install found ({path} is missing); give --answers FILE")
        return EXIT_USAGE
    answers = load(path)
    L = Layout(answers)
    if args.action == "add":
        if args.names or not args.csv:
            raise AnswersError(["users add: give the users as --csv FILE (name[,admin[,password_hash]] per line)"])
        entries = hub_users.read_csv(args.csv, L)
    else:
        if bool(args.names) == bool(args.csv):
            raise AnswersError(["users remove: give the users as names or as --csv FILE, one of the two"])
        names = [e.name for e in hub_users.read_csv(args.csv, L)] if args.csv else args.names
        entries = [hub_users.Entry(n) for n in dict.fromkeys(names)]
    keep = {answers.users.admin, *answers.users.allowed}
    if args.action == "remove" and (kept := sorted(keep & {e.name for e in entries})):
        raise AnswersError(
            [f"users remove: {', '.join(kept)} come from the answers (users.admin, users.allowed): change them there"]
        )
    if args.action == "remove" and (bad := hub_users.refused([e.name for e in entries], L, "users remove")):
        raise AnswersError(bad)
    ctx = make_context(answers)
    if args.action == "add":
        out = Path(args.passwords or L.state_dir / "users" / f"passwords-{time.strftime('%Y%m%dT%H%M%S')}.csv")
        created, rehashed, passwords = hub_users.add(ctx, entries, out)
    else:
        gone = hub_users.remove(ctx, entries)
    changed_roster = hub_users.write_roster(ctx, entries, args.action)
    took = time.monotonic() - t0
    if args.action == "add":
        print(
            f"users add: {len(entries)} users, {len(created)} new accounts, {len(rehashed)} passwords set "
            f"from hashes, {len(entries) - len(created) - len(rehashed)} unchanged ({took:.1f}s)"
        )
        if passwords:
            print(f"the new accounts' passwords: {out} (mode 0600: hand them out, then delete it)")
    else:
        print(f"users remove: {len(entries)} users, {len(gone)} accounts removed (homes kept) ({took:.1f}s)")
    if not changed_roster:
        print("the hub's allow list already says so: nothing to restart")
        return EXIT_OK
    restart = ["hub", *(["gateway"] if answers.gateway.impersonation else [])]
    print(f"the hub's allow list changed ({L.hub_users_file}): restarting {', '.join(restart)}")
    return cmd_services(argparse.Namespace(action="restart", names=restart, state_dir=str(L.state_dir)))


def _installed_answers(path: str | None) -> tuple[str, Answers]:
    from pathlib import Path

    from .answers import AnswersError, load

    path = path or SAVED_ANSWERS
    if not Path(path).exists():
        raise AnswersError([f"no install found ({path} is missing); give --answers FILE"])
    return path, load(path)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def cmd_upgrade(args) -> int:
    """jeg_wizard.upgrade: deltas, the refusal table, a backup, new environments beside, an atomic switch,
    the health checks (the deep one included), everything switched and put back on a failure."""
    import time

    from . import releases, roles, upgrade
    from .answers import AnswersError
    from .engine import make_context
    from .secrets import SecretError

    t0 = time.monotonic()
    if args.list:
        for r in releases.RELEASES.values():
            current = " (current)" if r is releases.CURRENT else ""
            print(
                f"{r.name}{current}: hub {' '.join(r.hub)}; gateway {' '.join(r.gateway_no_deps)}; "
                f"kernel {' '.join(r.kernel)}"
            )
        return EXIT_OK
    _, answers = _installed_answers(args.answers)
    if os.geteuid() != 0 and not args.dry_run:
        _err("run as root (sudo): upgrade builds environments under the prefix and restarts services")
        return EXIT_USAGE
    role = roles.detect(answers, None)
    ctx = make_context(answers, role=role, log_to_file=not args.dry_run)
    try:
        ctx.secrets.admin_password()
    except SecretError:  # the login -> Spark job check says it is skipped
        ctx.secrets.set_admin_password(None)
    p = upgrade.plan(ctx, args.to)
    sys.stdout.write(upgrade.render(p))
    if p.refused:
        raise AnswersError([f"release {p.target.name}: {r}" for r in p.refused])
    if not p.changing:
        print(f"upgrade: nothing to do: the environments are already release {p.target.name}")
        return EXIT_OK
    if args.dry_run:
        print("Nothing was changed (dry run).")
        return EXIT_OK
    unsubscribe = ctx.runner.subscribe(lambda line: print(f"  {line}", flush=True))
    try:
        outcome = upgrade.apply(p, verify=not args.quick)
    finally:
        unsubscribe()
    if not outcome.ok:
        said = "everything is as it was" if outcome.put_back else "and putting it back did not go cleanly"
        _err(f"upgrade FAILED; {said}:\n{outcome.message}")
        return EXIT_FAIL
    print(f"upgrade: release {p.target.name} in {time.monotonic() - t0:.0f}s; {outcome.message}")
    return EXIT_OK


def cmd_backup(args) -> int:
    """jeg_wizard.backup.make: the database copied online, the archive 0600, written atomically."""
    import time
    from pathlib import Path

    from . import backup, roles
    from .layout import Layout

    _, answers = _installed_answers(args.answers)
    L = Layout(answers, roles.detect(answers, None))
    if os.geteuid() != 0:
        _err("run as root (sudo): a backup reads the secrets and the users' password hashes (/etc/shadow)")
        return EXIT_USAGE
    try:
        passphrase = backup.read_passphrase(args.passphrase_file, args.passphrase_env)
    except backup.BackupError as e:
        _err(f"backup: {e}; nothing was written")
        return EXIT_USAGE
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = Path(args.output or L.backups_dir / f"jeg-wizard-backup-{stamp}.tar.gz{'.enc' if passphrase else ''}")
    made = backup.make(L, out, homes=args.homes, passphrase=passphrase)
    for s in made.skipped:
        print(f"  not in the backup: {s}")
    print(
        f"backup: {made.path} ({_size(made.size)}, {made.members} members, mode 0600"
        f"{', encrypted' if passphrase else ''}) in {made.seconds:.1f}s; "
        f"accounts: {', '.join(made.users) or 'none'}; homes: {', '.join(made.homes) or 'not taken (--homes)'}"
    )
    return EXIT_OK


def _stop_running(L) -> list[str]:
    """This install's services that run, stopped with their user servers (users' side first)."""
    from .actions.services import STOP_ORDER
    from .services import manager

    sdir = L.services_dir
    if not sdir.is_dir():
        return []
    mgr = manager(L.a.services.manager, sdir)  # as the install chose it
    running = [n for n in mgr.names() if mgr.pid(n)]
    order = sorted(running, key=lambda n: STOP_ORDER.index(n) if n in STOP_ORDER else 99)
    return [n for n in order if mgr.stop(n, children=True)]


def cmd_restore(args) -> int:
    """Verify everything, then the normal install with the archive's contents put in place before its steps."""
    import time
    from pathlib import Path

    from . import backup, doctor, roles
    from .answers import AnswersError, load
    from .bundle import sha256_of
    from .layout import Layout

    t0 = time.monotonic()
    if os.geteuid() != 0:
        _err("run as root (sudo): a restore installs, writes secrets and creates accounts")
        return EXIT_USAGE
    try:
        passphrase = backup.read_passphrase(args.passphrase_file, args.passphrase_env)
        opened = backup.open_archive(Path(args.archive), passphrase)
    except backup.BackupError as e:
        _err(f"restore: {args.archive}: {e}; nothing was changed")
        return EXIT_USAGE
    try:
        m = opened.manifest
        print(
            f"restore: {args.archive} verified ({len(m['members'])} members, sha256 each; made by jeg-wizard "
            f"{m['wizard_version']} on {m['host']} at {m['created']})"
        )
        if m["wizard_version"] != __version__:
            print(f"note: the backup was made by jeg-wizard {m['wizard_version']}; this is {__version__}")
        if m["role"] != "all":
            raise AnswersError([f"restore: the archive is of a {m['role']} host; restore takes one-host installs only"])
        if args.answers:
            path = args.answers
        elif "state/answers.toml" in opened.blobs:
            path = str(opened.blobs["state/answers.toml"])
        else:
            raise AnswersError(["restore: the archive holds no answers; give --answers FILE"])
        answers = load(path)
        if roles.detect(answers, None) != "all":
            raise AnswersError(["restore: the answers are of a site of several hosts; restore takes one-host installs"])
        same = sha256_of(Path(path)) == m["answers_sha256"]
        # the passwords are the archive's: the admin's hash from it, no variable or file the old box had
        admin = {u["name"]: u["hash"] for u in backup.accounts(opened)}.get(answers.users.admin, "")
        u = answers.users
        if u.admin_password_env or u.admin_password_file or u.admin_password_hash:
            print("note: users.admin_password_*: not used by a restore; the admin's password comes from the archive")
        users = u.model_copy(
            update={
                "admin_password_env": "",
                "admin_password_file": "",
                "admin_password_hash": admin if backup.usable_hash(admin) else "",
            }
        )
        answers = answers.model_copy(update={"users": users})
        plan = backup.RestorePlan(opened, same, [], stop_services=lambda: _stop_running(Layout(answers)))
        if not same:
            print("note: other answers than the archive's: configs and kernelspecs are rendered for them, not copied")
        rc = cmd_install(
            path, unattended=True, only=None, answers=answers, before=lambda ctx: backup.put_back(ctx, plan, print)
        )
        for note in plan.notes:
            print(f"note: {note}")
        if rc != EXIT_OK:
            _err("restore: the install failed (above); fix the cause and run the same restore again")
            return rc
        print("\nrestore: health")
        health = doctor.main(Layout(answers), 5.0)  # 0 healthy, 1 degraded (warnings), 2 down
        said = {0: "", 1: " (health: degraded, the lines above say what)", 2: " (health: DOWN, above)"}[health]
        print(f"\nrestore: done in {time.monotonic() - t0:.0f}s{said}")
        return EXIT_FAIL if health == 2 else EXIT_OK
    finally:
        opened.close()


def cmd_services(args) -> int:
    import json
    from pathlib import Path

    from .services import ProcessManager, SystemdManager, log_ref, spec_config_error, wait_http

    sdir = Path(args.state_dir) / "services"
    mgr = SystemdManager(sdir) if (sdir.exists() and _is_systemd(sdir)) else ProcessManager(sdir)
    known = mgr.names()
    if not known:
        _err(f"no services recorded in {sdir}: has the install run (system.state_dir)?")
        return EXIT_FAIL
    names = args.names or known
    bad = [n for n in names if n not in known]
    if bad:
        _err(f"unknown service {', '.join(bad)}; known: {', '.join(known)}")
        return EXIT_USAGE
    from .actions.services import STOP_ORDER

    # start in dependency order (Spark, gateway, hub); stop in reverse
    order = STOP_ORDER[::-1]
    names = sorted(names, key=lambda n: order.index(n) if n in order else 99)
    rc = EXIT_OK
    if args.action == "restart":
        from .services import ServiceSpec

        for n in list(names):
            data = json.loads((sdir / f"{n}.json").read_text())
            data.pop("digest", None)
            broken = spec_config_error(ServiceSpec(**data))
            if broken:  # it would not start again, or on its defaults: keep the running one
                print(f"{n}: FAILED, not restarted (the running one, if any, keeps going): {broken}")
                names.remove(n)
                rc = EXIT_FAIL
    if args.action in ("stop", "restart"):
        for n in reversed(names):
            # a restart keeps the hub's user servers running (they reconnect); a stop stops them too
            print(f"{n}: {'stopped' if mgr.stop(n, children=args.action == 'stop') else 'was not running'}")
    if args.action == "stop" and not args.names:  # everything we run: the class archive's job too
        from .class_archive import stop_builder
        from .engine import Journal

        for e in Journal(Path(args.state_dir) / "journal.jsonl").entries():
            if e.get("kind") == "jvm-archive" and stop_builder(Path(e["path"])):
                print(f"the job writing {e['path']}: stopped (the next install writes it)")
    if args.action in ("start", "restart"):
        from .services import ServiceSpec

        for n in names:
            if mgr.pid(n):
                print(f"{n}: already running (pid {mgr.pid(n)})")
                continue
            data = json.loads((sdir / f"{n}.json").read_text())
            data.pop("digest", None)
            spec = ServiceSpec(**data)
            broken = spec_config_error(spec)
            if broken:  # it would not start, or start on its defaults: say why now, not after 90 s
                print(f"{n}: FAILED, not started: {broken}")
                rc = EXIT_FAIL
                continue
            mgr.start(spec)
            if spec.ready_url:
                try:
                    secs = wait_http(
                        spec.ready_url,
                        timeout=90,
                        log=log_ref(mgr.kind, n, spec.log),
                        pid=lambda n=n: mgr.pid(n),
                        codes=tuple(spec.ready_codes),
                        verify=spec.ready_verify,
                    )
                    print(f"{n}: running, answers at {spec.ready_url} ({secs:.1f}s)")
                except RuntimeError as e:
                    print(f"{n}: FAILED: {e}")
                    rc = EXIT_FAIL
    if args.action == "status":
        for n in names:
            pid = mgr.pid(n)
            print(f"{n}: {'running, pid ' + str(pid) if pid else 'stopped'}")
            if not pid:
                rc = EXIT_FAIL
    return rc


def _is_systemd(sdir: Path) -> bool:
    from pathlib import Path

    from . import distro

    return distro.systemd_running() and any(Path("/etc/systemd/system").glob("jeg-*.service"))


def cmd_tui(answers_path: str | None) -> int:
    try:
        from .tui.app import run
    except ImportError as e:
        return _screens_missing(e, "or install without them: jeg-wizard install --unattended ANSWERS")
    return run(answers_path)


def _screens_missing(e: ImportError, instead: str) -> int:
    # a broken build: say so; a text mode in the screens' place would hide it
    _err(
        f"the wizard's screens cannot be loaded ({e}); reinstall jeg-wizard with its dependencies "
        f"(./jeg-wizard rebuilds it, or: pip install --force-reinstall jeg-wizard), {instead}"
    )
    return EXIT_FAIL
