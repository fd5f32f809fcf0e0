"""Hub users in bulk: `jeg-wizard users add --csv FILE` and `users remove NAME...|--csv FILE`.

A user is a PAM account (useradd; its password set with chpasswd on stdin, from a hash in the CSV or
generated into a 0600 file) plus the hub's allow list. The list lives beside the answers' users in
one roster file the hub config reads at start (Layout.hub_users_file: allowed, admins, removed);
a removed user goes to JupyterHub's blocked_users, which outranks anything in its database. A change
restarts the hub (its users' servers keep running). Everything is checked before anything changes;
a second run of the same file changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from .answers import AnswersError, read_regular
from .layout import Layout

ADMIN_WORDS = {"": False, "0": False, "no": False, "false": False, "1": True, "yes": True, "true": True}
CSV_MAX = 4 * 1024 * 1024
COLUMNS = "name[,admin[,password_hash]] (admin: yes/no, true/false, 1/0; a crypt hash such as $6$...)"


@dataclass(frozen=True)
class Entry:
    name: str
    admin: bool = False
    password_hash: str = ""


def read_csv(path: str, layout: Layout) -> list[Entry]:
    """The file's users, every line checked; AnswersError naming file, line and what is allowed."""
    from pydantic import TypeAdapter, ValidationError

    from .values import CryptHash, UserName

    raw, _ = read_regular(path, "users CSV", CSV_MAX)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise AnswersError([f"--csv {path}: not UTF-8 ({e})"]) from None
    names, hashes = TypeAdapter(UserName), TypeAdapter(CryptHash)
    out, problems, seen = [], [], {}
    for n, row in enumerate(csv.reader(io.StringIO(text)), 1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#") or (n == 1 and cells[0].lower() == "name"):
            continue
        where = f"--csv {path} line {n}"
        if len(cells) > 3:
            problems.append(f"{where}: {len(cells)} columns; allowed: {COLUMNS}")
            continue
        name, admin, pw_hash = (cells + ["", ""])[:3]
        try:
            name = names.validate_python(name)
        except ValidationError as e:
            problems.append(f"{where}: name {name[:40]!r}: {e.errors()[0]['msg'].removeprefix('Value error, ')}")
            continue
        if admin.lower() not in ADMIN_WORDS:
            problems.append(f"{where}: admin {admin[:20]!r} for {name}: allowed yes/no, true/false, 1/0 or empty")
            continue
        try:
            pw_hash = hashes.validate_python(pw_hash)
        except ValidationError as e:
            problems.append(f"{where}: password_hash for {name}: {e.errors()[0]['msg'].removeprefix('Value error, ')}")
            continue
        if name in seen:
            problems.append(f"{where}: {name} is already on line {seen[name]}")
            continue
        seen[name] = n
        out.append(Entry(name, ADMIN_WORDS[admin.lower()], pw_hash))
    problems += refused([e.name for e in out], layout, where=f"--csv {path}")
    if problems:
        raise AnswersError(problems)
    if not out:
        raise AnswersError([f"--csv {path}: no users in it; one per line: {COLUMNS}"])
    return out


def refused(names: list[str], layout: Layout, where: str) -> list[str]:
    """Names that must never be hub users: root, system accounts, the gateway's own user, its refused ones."""
    from .machine import not_a_person, uid_range

    a = layout.a
    never = {"root", a.gateway.user, *a.gateway.unauthorized_users}
    lo, hi = uid_range()
    out = []
    for name in names:
        if name in never:
            out.append(
                f"{where}: {name} may not be a hub user (root, the gateway's user and gateway.unauthorized_users)"
            )
        elif (uid := not_a_person(name)) is not None:
            bound = f"< {lo}" if uid < lo else f"> {hi}"
            out.append(f"{where}: {name} is a system account (uid {uid} {bound}); hub users are people")
    return out


def roster(layout: Layout) -> dict[str, list[str]]:
    """The roster file as the hub reads it ({} parts missing: an install that never added users)."""
    try:
        data = json.loads(layout.hub_users_file.read_text())
    except (OSError, ValueError):
        data = {}
    return {k: sorted(set(data.get(k, []))) for k in ("allowed", "admins", "removed")}


def render_roster(r: dict[str, list[str]]) -> str:
    return json.dumps({k: sorted(set(v)) for k, v in r.items()}, indent=1) + "\n"


def added(r: dict[str, list[str]], entries: list[Entry]) -> dict[str, list[str]]:
    names = {e.name for e in entries}
    return {
        "allowed": sorted(set(r["allowed"]) | names),
        "admins": sorted((set(r["admins"]) - names) | {e.name for e in entries if e.admin}),
        "removed": sorted(set(r["removed"]) - names),
    }


def removed(r: dict[str, list[str]], names: list[str]) -> dict[str, list[str]]:
    gone = set(names)
    return {
        "allowed": sorted(set(r["allowed"]) - gone),
        "admins": sorted(set(r["admins"]) - gone),
        "removed": sorted(set(r["removed"]) | gone),
    }


def new_password() -> str:
    return secrets.token_urlsafe(12)


def write_passwords(path: Path, passwords: dict[str, str]) -> None:
    """name,password per line, 0600 from the start (files.atomic_write): what the operator hands out."""
    from . import files

    text = "".join(f"{name},{pw}\n" for name, pw in passwords.items())
    files.atomic_write(path, text.encode(), 0o600)


def shadow() -> dict[str, str]:
    """name -> password hash, from /etc/shadow (root only)."""
    out = {}
    for line in Path("/etc/shadow").read_text().splitlines():
        parts = line.split(":")
        if len(parts) > 1:
            out[parts[0]] = parts[1]
    return out


def add(ctx, entries: list[Entry], passwords_file: Path) -> tuple[list[str], list[str], dict[str, str]]:
    """(created, rehashed, generated passwords): useradd for the new names (journaled first: uninstall
    --remove-users knows them), then one chpasswd for the generated passwords and one for the hashes,
    all on stdin. Existing accounts keep their passwords unless the CSV gives a hash that differs."""
    from .actions.users import UserRecord, user_exists

    new = [e for e in entries if not user_exists(e.name)]
    passwords = {e.name: new_password() for e in new if not e.password_hash}
    if passwords:  # before the accounts: a run cut short never leaves an account whose password is lost
        write_passwords(passwords_file, passwords)
    for e in new:
        ctx.record(UserRecord(e.name, created=True))  # before useradd: a kill after it still knows
        ctx.runner.run(["useradd", "--create-home", "--shell", "/bin/bash", e.name])
    hashes = shadow()
    hashed = [e for e in entries if e.password_hash and hashes.get(e.name) != e.password_hash]
    if passwords:
        ctx.runner.run(["chpasswd"], input="".join(f"{n}:{pw}\n" for n, pw in passwords.items()))
    if hashed:
        ctx.runner.run(["chpasswd", "--encrypted"], input="".join(f"{e.name}:{e.password_hash}\n" for e in hashed))
    created = [e.name for e in new]
    return created, [e.name for e in hashed if e.name not in created], passwords


def remove(ctx, entries: list[Entry]) -> list[str]:
    """The accounts of these users that the roster holds (ours), deleted; their homes stay (the notebooks)."""
    from .actions.users import end_processes_of, user_exists

    ours = set(roster(ctx.layout)["allowed"])
    gone = []
    for e in entries:
        if e.name in ours and user_exists(e.name):
            end_processes_of(e.name, grace=5)
            ctx.runner.run(["userdel", e.name])
            gone.append(e.name)
    return gone


def write_roster(ctx, entries: list[Entry], action: str) -> bool:
    """The roster with these users added or removed; True when it changed (backed up, written atomically,
    journaled: uninstall removes it)."""
    from .actions import FileContent

    L = ctx.layout
    before = roster(L)
    after = added(before, entries) if action == "add" else removed(before, [e.name for e in entries])
    file = FileContent(L.hub_users_file, render_roster(after), mode=0o644)
    if file.done(ctx):
        return False
    file.apply(ctx)
    return True
