"""The replayable answers file the wizard saves when the run starts: every section as the operator
answered it, no secret in it, and a note on how `--unattended` gets the admin password."""

from __future__ import annotations

from pathlib import Path

import tomli_w

from .. import files
from ..answers import Answers, dump


def render(a: Answers, *, password_typed: bool) -> str:
    data = dump(a)
    u = data["users"]
    note = [
        "# jeg-wizard answers, saved by the interactive wizard when the install started.",
        "# Replay the same install with:  jeg-wizard install --unattended THIS_FILE",
        "# No secret is stored here. The gateway token is generated into a 0600 file (gateway.token_file).",
    ]
    if not (u["admin_password_env"] or u["admin_password_file"] or u["admin_password_hash"]):
        # the typed password is not saved, and no variable is named that the operator never set: the
        # printed replay works as printed here, and a new machine's replay is refused naming the keys
        note += [
            "# The admin password "
            + ("typed in the wizard is NOT saved. " if password_typed else "was not typed. ")
            + "A replay on this machine keeps the existing one.",
            "# On a new machine give it first: users.admin_password_file (a 0600 file holding it),",
            "# users.admin_password_env (a variable holding it) or users.admin_password_hash.",
        ]
    return "\n".join(note) + "\n\n" + tomli_w.dumps(data)


def save(a: Answers, path: Path, *, password_typed: bool) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    files.atomic_write(path, render(a, password_typed=password_typed).encode(), 0o600)
    return path
