"""The release sets: the pins each Python environment of an install is built with, in one place.

The steps build CURRENT; `jeg-wizard upgrade` moves an install from the set its venvs were built with
(each venv's marker file holds its recipe: jeg_wizard.actions.python_envs.MARKER) to another one of
RELEASES. REFUSED is the table of combinations known to break, each with its reason: checked against a
target's pins before anything changes, and against the versions pip resolved in a new environment before
it is switched in.
"""

from __future__ import annotations

from dataclasses import dataclass

# JEG 3.3.0 is what the config, the kernelspecs (LocalProcessProxy) and the user servers' kernel-websocket fix
# are written for; it runs on jupyter_server 1.x. Its own pins cannot install on Python 3.12+ (pyzmq<25 has no
# wheel there and does not build) and it imports distutils (gone in 3.12). One recipe for every Python: its
# runtime requirements with pyzmq relaxed (GATEWAY_DEPENDENCIES), then JEG itself with --no-deps. Left out:
# docker, kubernetes, yarn-api-client and future, which only the container/YARN-cluster process proxies use
# (every kernelspec here, YARN's included, uses LocalProcessProxy). Proven from install to `1+1` in a kernel
# started through the gateway on the Pythons that jeg_wizard.preflight.GATEWAY_PYTHONS names.
GATEWAY_REQUIREMENTS = ("jupyter_enterprise_gateway==3.3.0",)  # installed last, --no-deps
GATEWAY_DEPENDENCIES = (
    "jupyter_server>=1.7,<2",
    "jupyter_client>=6.1.12,<7",
    "pyzmq>=25,<28",  # JEG says <25; 27.x runs it (zmq.eventloop.ioloop and zmq.ssh are still there)
    "tornado>=6.1,<7",
    "traitlets>=5.3.0",
    "jupyter_core>=4.7.0",
    "jinja2>=3.1",
    "paramiko>=2.11",
    "pexpect>=4.8.0",
    "pycryptodomex>=3.9.7",
    "requests>=2.14.2",
    "watchdog>=2.1.3",
    "setuptools",  # JEG imports distutils.util.strtobool: on 3.12+ only setuptools' shim provides it
)
KERNEL_REQUIREMENTS = ("ipykernel>=6.29,<8",)

# hub.gateway_client = "nb2kg" (the README's client): the classic Notebook 5.7 with nb2kg 0.7.0 in a venv of its
# own, spawned by the hub through JupyterHub 3.1's jupyterhub-singleuser, the last one that wraps the classic
# NotebookApp (4.x and later wrap jupyter_server; 3.1 still speaks 6.1's OAuth, scopes and API tokens). nb2kg
# needs notebook<6 and six; notebook 5.7 imports distutils (gone in 3.12): NB2KG_PYTHONS.
NB2KG_REQUIREMENTS = ("notebook==5.7.16", "nb2kg==0.7.0", "six", "jupyterhub==3.1.1", "jupyter_client>=6.1.12,<7")
# proven on 3.11 (Debian 12) from the hub's login to a Spark job in a classic notebook; 3.10 uses nothing 3.11
# removed; 3.12+ lacks distutils (notebook.utils imports distutils.version at start)
NB2KG_PYTHONS = ((3, 10), (3, 11))

# kernels.scala: Apache Toree 0.5.0 from PyPI (its pip package carries the kernel's assembly jar; only the jar
# is used, started by spark-submit). Built for Scala 2.12: Spark 3.x's line (4.x is Scala 2.13), so a Scala
# kernel chooses TOREE_SPARK when spark.version is not given, and refuses Spark 4 naming both keys.
TOREE_REQUIREMENT = "toree==0.5.0"
TOREE_JAR = "toree/lib/toree-assembly-0.5.0-incubating.jar"  # inside the package (pip install --target)
TOREE_SPARK = "3.5.9"
# kernels.r: IRkernel from the distribution (R 4.2 on Debian 12); PyPI's Spark has no SparkR (R/lib/SparkR)
R_PACKAGES = ("r-base-core", "r-cran-irkernel")


@dataclass(frozen=True)
class Release:
    name: str
    hub: tuple[str, ...]  # the hub and the user servers (they run from the hub venv)
    gateway: tuple[str, ...] = GATEWAY_DEPENDENCIES
    gateway_no_deps: tuple[str, ...] = GATEWAY_REQUIREMENTS
    kernel: tuple[str, ...] = KERNEL_REQUIREMENTS


# hub.authenticator = ldap | oidc: in every hub venv, so switching sign-in is a config change (`set`), never
# a venv rebuild while users are locked out
AUTHENTICATORS = ("jupyterhub-ldapauthenticator==2.0.*", "oauthenticator==17.4.*")
# jsonschema 4.25+ puts rfc3987-syntax in the format-nongpl extra jupyter_events asks for; it builds ~35 Earley
# parsers at import (jsonschema imports every format backend): 2.0 s of every hub and user-server start here,
# for an IRI format no Jupyter schema uses. 4.24 has no IRI backend in that extra (measured: a user server's
# import 4.4 -> 2.5 s, a spawn 5.3 -> 3.5 s). Drop the cap once a jsonschema imports it lazily.
QUICK_START = ("jsonschema<4.25",)
CURRENT = Release(
    "2026.11", hub=("jupyterhub==6.1.*", "jupyterlab==4.6.*", "notebook==7.6.*", *AUTHENTICATORS, *QUICK_START)
)
# the previous minor of hub, lab and notebook: what installs made before 2026.11 run (and `upgrade --to` it)
PREVIOUS = Release("2026.09", hub=("jupyterhub==6.0.*", "jupyterlab==4.5.*", "notebook==7.5.*", *AUTHENTICATORS))
RELEASES: dict[str, Release] = {r.name: r for r in (CURRENT, PREVIOUS)}

# Combinations known to break: (what, versions that break, only when, its versions, why). `what` names a
# package in an environment ("hub:jupyter_server") or a component ("spark", "java", "node", "proxy",
# "python"); "" in the third place: always. Checked before any change (against the pins) and on the new
# environment before it is switched in (against what pip resolved, dependencies included).
REFUSED: list[tuple[str, str, str, str, str]] = [
    (
        "gateway:jupyter_server",
        ">=2",
        "",
        "",
        "Enterprise Gateway 3.3.0 pins jupyter_server<2 (its kernel and websocket handlers are written for 1.x); "
        "on 2.x the gateway does not start",
    ),
    (
        "gateway:jupyter_client",
        ">=7",
        "",
        "",
        "Enterprise Gateway 3.3.0 pins jupyter_client<7 (its process proxies subclass 6.x's kernel manager)",
    ),
    (
        "gateway:jupyter_enterprise_gateway",
        "<3",
        "",
        "",
        "Enterprise Gateway 2.x (what pip falls back to beside notebook 7) breaks with this config and kernelspecs",
    ),
    (
        "hub:jupyter_server",
        "<2",
        "",
        "",
        "the user servers need jupyter_server >= 2: its built-in gateway client (JUPYTER_GATEWAY_*; KG_URL is "
        "ignored) and its stale kernel-websocket replacement, without which JupyterLab's second connect hangs",
    ),
    (
        "hub:notebook",
        "<7",
        "",
        "",
        "notebook 6.x (and nb2kg) cannot use the gateway client this install configures; notebook 7 runs on "
        "jupyter_server 2",
    ),
    (
        "hub:jupyterhub",
        "<5",
        "",
        "",
        "the hub config is written for JupyterHub 5's allow rules (allowed_users from the answers and the roster); "
        "JupyterHub 4 lets every PAM user of the machine log in with the same config",
    ),
    ("hub:jupyterlab", "<4", "", "", "JupyterLab 3 needs jupyter_server 1 (and cannot reach the gateway through 2)"),
    ("spark", ">=4", "java", "<17", "Spark 4.x runs on Java 17 or 21 only"),
    ("spark", "<3", "java", ">8", "Spark 2.4 runs on Java 8 only"),
    ("spark", ">=3,<4", "java", ">17", "Spark 3.5 runs on Java 8, 11 or 17"),
    ("proxy", ">=5", "node", "<20", "configurable-http-proxy 5.x needs Node >= 20"),
]


def _num(v: str) -> tuple[int, ...]:
    out = []
    for part in v.split("."):
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


def _cmp(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = max(len(a), len(b))
    a, b = a + (0,) * (n - len(a)), b + (0,) * (n - len(b))
    return (a > b) - (a < b)


def matches(version: str, spec: str) -> bool:
    """version satisfies every clause of spec (">=3,<4"; operators <, <=, >, >=, ==, !=; numbers only), compared
    to the precision the clause gives: Java 17.0.13 is not ">17", jupyterhub 6.1.1 is "==6.1"."""
    v = _num(version)
    if not v:
        return False
    for clause in spec.split(","):
        clause = clause.strip()
        op = next(o for o in ("<=", ">=", "==", "!=", "<", ">") if clause.startswith(o))
        bound = _num(clause[len(op) :])
        c = _cmp(v[: len(bound)], bound)
        ok = {"<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0, "==": c == 0, "!=": c != 0}[op]
        if not ok:
            return False
    return True


def refusals(versions: dict[str, str]) -> list[str]:
    """Each rule of REFUSED the versions fall under, as `what version: why` (unknown versions never refuse)."""
    out = []
    for what, broken, when, when_broken, why in REFUSED:
        v = versions.get(what)
        if not v or not matches(v, broken):
            continue
        if when:
            w = versions.get(when)
            if not w or not matches(w, when_broken):
                continue
            out.append(f"{what} {v} with {when} {w}: {why}")
        else:
            out.append(f"{what} {v}: {why}")
    return out


def pinned(requirements: tuple[str, ...] | list[str]) -> dict[str, str]:
    """name -> the lowest version an exact pin admits ("jupyterhub==6.1.*" -> "6.1"); other specs are left out
    (what pip resolves for them is checked on the built environment)."""
    out = {}
    for r in requirements:
        name, eq, ver = r.partition("==")
        if eq and ver:
            out[name.strip().lower().replace("-", "_")] = ver.strip().removesuffix(".*")
    return out


def named(recipes: dict[str, str]) -> str:
    """The release whose recipes (env -> Venv marker text) these are; "" when none of RELEASES."""
    from .actions.python_envs import recipe

    for r in RELEASES.values():
        want = {"hub": recipe(r.hub), "gateway": recipe(r.gateway, r.gateway_no_deps), "kernel": recipe(r.kernel)}
        if all(want.get(env) == text for env, text in recipes.items() if text):
            return r.name
    return ""
