"""Checks: verifications that change nothing and run every time (a dry run only says them)."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # typing only; engine imports us
    from ..engine import Context


@dataclass
class Check:
    """A verification that changes nothing; `run` raises with the operator's explanation."""

    title: str
    run: Callable[[Context], str | None]  # returns a line to report
    describe: list[str] = field(default_factory=list)
    # runs a program or a job (seconds each): only when verifying (--verify, or after a change)
    deep: bool = False
    verify_only = True

    def done(self, ctx) -> bool:
        return False

    def preview(self, ctx) -> list[str]:
        return self.describe or [f"# check: {self.title}"]

    def apply(self, ctx) -> None:
        line = ctx.runner.check(self.title, lambda: self.run(ctx))
        if line:
            ctx.runner.emit(f"ok: {line}")


def command_check(title: str, argv: list[str], expect: str, env: dict | None = None, timeout: float = 300) -> Check:
    def run(ctx):
        r = ctx.runner.run(argv, env=env, timeout=timeout, check=False)
        if r.rc != 0 or expect not in r.text:
            tail = "\n".join(r.output[-20:])
            raise RuntimeError(f"{title}: expected '{expect}' from {shlex.join(argv)} (exit {r.rc})\n{tail}")
        return title

    return Check(
        title,
        run,
        [
            f"$ {shlex.join(argv)}"
            + (f"   # env: {' '.join(f'{k}={v}' for k, v in (env or {}).items())}" if env else "")
        ],
        deep=True,
    )
