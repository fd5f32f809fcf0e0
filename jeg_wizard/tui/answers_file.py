"""The replayable answers file the wizard saves when the run starts: every section as the operator
answered it, no secret in it, and a note on how `--unattended` gets the admin password."""

from __future__ import annotations

from pathlib import Path

import tomli_w

from .. import files
from ..answers import Answers

PASSWORD_ENV = "JEGW_ADMIN_PASSWORD"


def render(a: Answers, *, password_typed: bool) -> str:
    data = a.model_dump()
    u = data["users"]
    note = [
        "# jeg-wizard answers, saved by the interactive wizard when the install started.",
        "# Replay the same install with:  jeg-wizard install --unattended THIS_FILE",
        "# No secret is stored here. The gateway token is generated into a 0600 file (gateway.token_file).",
    ]
    if password_typed and not (u["admin_password_env"] or u["admin_password_file"] or u["admin_password_hash"]):
        # the password typed in the wizard is not saved: the replay reads it from this variable
        u["admin_password_env"] = PASSWORD_ENV
        note += [
            "# The admin password typed in the wizard is NOT saved. Pass it to the replay through the",
            f"# environment:  {PASSWORD_ENV}='...' jeg-wizard install --unattended THIS_FILE",
            "# or use users.admin_password_file (a 0600 file) or users.admin_password_hash instead.",
        ]
    elif not password_typed:
        note.append(
            "# No admin password was typed: the replay keeps the existing one (or uses users.admin_password_*)."
        )
    return "\n".join(note) + "\n\n" + tomli_w.dumps(data)


def save(a: Answers, path: Path, *, password_typed: bool) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    files.atomic_write(path, render(a, password_typed=password_typed).encode(), 0o600)
    return path
