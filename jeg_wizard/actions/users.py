"""Accounts: the admin who logs in to the hub, the gateway's system user."""

from __future__ import annotations

import os
import pwd
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import testhook
from ..runner import CommandFailed
from .records import Op, Phase, Record, Undo, argv_line


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def user_ids(owner: str | None) -> tuple[int, int] | None:
    """(uid, gid) of a user name; None: no owner asked; (-1, -1): the user does not exist yet (plan)."""
    if not owner:
        return None
    try:
        pw = pwd.getpwnam(owner)
        return pw.pw_uid, pw.pw_gid
    except KeyError:
        return (-1, -1)


def end_processes_of(name: str, grace: float = 10) -> None:
    """The services are stopped by now, but their last processes may take a moment to go (userdel
    refuses while any runs): wait, then SIGKILL what is left of this user (ours: we remove it)."""
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


@dataclass
class UserRecord(Record):
    name: str
    created: bool = False
    kind = "user"
    phase = Phase.USERS

    def key(self) -> tuple:
        return ("user", self.name)

    def merge(self, later: Record) -> Record:
        return UserRecord(self.name, self.created or later.created)

    def undo(self, u: Undo) -> list[Op]:
        if not self.created or not user_exists(self.name):
            return []
        if not u.remove_users:
            return [Op(f"keep user {self.name} (created by the install; --remove-users removes it)")]

        def userdel() -> None:
            u.runner.effect(f"end what still runs as {self.name}", lambda: end_processes_of(self.name))
            try:
                u.runner.run(["userdel", "-r", self.name])
            except CommandFailed:
                if user_exists(self.name):  # else only the home was missing: the user is gone all the same
                    raise

        return [Op(f"remove user {self.name} and its home (userdel -r)", userdel)]


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
        return user_exists(self.name)

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
            cmds.append(
                (
                    [
                        "useradd",
                        "--system",
                        "--user-group",
                        "--no-create-home",
                        "--home-dir",
                        self.system_home,
                        "--shell",
                        "/usr/sbin/nologin",
                        self.name,
                    ],
                    None,
                )
            )
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
            lines.append(argv_line(ctx, argv, "  < (user:password on stdin, not shown)" if stdin else ""))
        if not self.exists() and self.password() is None and not self.password_hash and not self.system_home:
            lines.append(f"# no password given: {self.name} will be created without one and cannot log in yet")
        return lines

    def apply(self, ctx) -> None:
        ctx.record(UserRecord(self.name, created=not self.exists()))  # before useradd: a kill after it still knows
        for i, (argv, stdin) in enumerate(self._commands()):
            if i:
                testhook.pause(f"mid {self.title}")
            ctx.runner.run(argv, input=stdin)  # the password travels on stdin, never in argv
