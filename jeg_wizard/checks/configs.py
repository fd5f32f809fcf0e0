"""Our rendered Python configs, read as Python (ast), never by regex: what each `c.Section.key = …`
sets, and where the file on disk differs from a fresh render of the same answers."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from .. import render
from ..layout import Layout
from . import finding

# the template each config file of ours is rendered from
TEMPLATES = {"hub": "jupyterhub_config.py.j2", "gateway": "jupyter_enterprise_gateway_config.py.j2"}


@dataclass(frozen=True)
class Code:
    """A value the config computes when the service starts (a lambda, a file read): its source."""

    source: str


def value(node: ast.expr):
    """A literal as Python reads it; `set([...]) | f(...)` as the set of its literal part; else Code."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        pass
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "set" and len(node.args) == 1:
        inner = value(node.args[0])
        return set(inner) if isinstance(inner, (list, tuple, set)) else Code(ast.unparse(node))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        parts = [value(node.left), value(node.right)]
        sets = [p for p in parts if isinstance(p, set)]
        return set().union(*sets) if sets else Code(ast.unparse(node))
    if isinstance(node, ast.Dict) and all(isinstance(k, ast.Constant) for k in node.keys):
        return {k.value: value(v) for k, v in zip(node.keys, node.values, strict=True)}
    return Code(ast.unparse(node))


class Config:
    """The settings of one config file: 'Spawner.environment' -> its value."""

    def __init__(self, text: str, name: str = "config"):
        self.nodes: dict[str, ast.expr] = {}
        self.error = ""
        self.rest: list[str] = []
        try:
            tree = ast.parse(text, name)
        except SyntaxError as e:
            self.error = f"does not parse: {e}"
            return
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                key = _setting(stmt.targets[0])
                if key:
                    self.nodes[key] = stmt.value
        self.rest = [ast.dump(s) for s in tree.body if not (isinstance(s, ast.Assign) and _setting(s.targets[0]))]

    def __contains__(self, key: str) -> bool:
        return key in self.nodes

    def get(self, key: str, default=None):
        return value(self.nodes[key]) if key in self.nodes else default


def _setting(target: ast.expr) -> str:
    """'Section.key' for a `c.Section.key` target, else ''."""
    if (
        isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Attribute)
        and isinstance(target.value.value, ast.Name)
        and target.value.value.id == "c"
    ):
        return f"{target.value.attr}.{target.attr}"
    return ""


def path(layout: Layout, which: str) -> Path:
    return {"hub": layout.hub_config, "gateway": layout.gateway_config}[which]


def fresh(layout: Layout, which: str) -> str:
    """The config as the install writes it from these answers (the same render context)."""
    return render.compared(TEMPLATES[which], render.context(layout))  # compared, never written


def read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def drift(disk: Config, want: Config) -> list[str]:
    """The settings that differ between the file and a fresh render, as short phrases."""
    out = []
    for key in sorted(set(disk.nodes) | set(want.nodes)):
        if key not in disk:
            out.append(f"{key} is missing")
        elif key not in want:
            out.append(f"{key} was added")
        elif ast.dump(disk.nodes[key]) != ast.dump(want.nodes[key]):
            out.append(f"{key} differs")
    if not out and disk.rest != want.rest:
        out.append("code other than the settings differs")
    return out


def file_finding(site, which: str, component: str, step: str) -> list[finding.Finding]:
    """The file on disk against a fresh render of the same answers: an edit or a stale install shows."""
    where = path(site.L, which)
    disk = site.config(which)
    if disk is None:
        return [
            finding.problem(
                component, "config file", f"{where} is missing or unreadable", f"re-run the install ({step} step)"
            )
        ]
    if disk.error:
        return [finding.problem(component, "config file", f"{where} {disk.error}", f"re-run the install ({step} step)")]
    differs = drift(disk, site.fresh(which))
    if differs:
        return [
            finding.problem(
                component,
                "config file",
                f"{where} is not what the answers give: {'; '.join(differs)}",
                f"re-run the install ({step} step) to write it again, then restart the {which}",
                warning=True,
            )
        ]
    return []
