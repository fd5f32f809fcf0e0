"""Renders templates/ and kernels/ with one context built from the answers, and validates output."""

from __future__ import annotations

import ast
import glob
import json
import shlex
from importlib import resources
from pathlib import Path

from .answers_base import control_char
from .layout import Layout

TYPE_CHECKING = False
if TYPE_CHECKING:
    import jinja2


class RenderError(ValueError):
    pass


def py_literal(v) -> str:
    """The one way a value lands in a rendered Python config: as a Python literal (strings double-quoted,
    ASCII, every other character escaped), of the few types a config holds; anything else is refused."""
    if v is None or isinstance(v, bool):
        return repr(v)
    if isinstance(v, int):
        return repr(v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")):
            raise RenderError(f"not a finite number: {v!r}")
        return repr(v)
    if isinstance(v, str):
        return _py_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(py_literal(x) for x in v) + "]"
    if isinstance(v, (set, frozenset)):
        return "{" + ", ".join(py_literal(x) for x in sorted(v)) + "}" if v else "set()"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{py_literal(k)}: {py_literal(x)}" for k, x in v.items()) + "}"
    raise RenderError(f"cannot render a {type(v).__name__} into a Python config")


def _py_str(s: str) -> str:
    """A double-quoted, ASCII-only Python string literal: every other character escaped."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isascii() and ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def comment_text(v) -> str:
    """A value shown inside a comment: one printable line, or its repr when it is anything else."""
    s = str(v)
    return s if s.isprintable() and s.isascii() else repr(s)


def _finalize(v):
    """Every {{ }} output: a line break or other control character would end a comment line or a string
    literal in the rendered file; it never gets there (the answers refuse them too)."""
    if isinstance(v, str) and control_char(v):
        raise RenderError(f"a value holds a control character: {v!r}")
    return v


def _env(package: str) -> jinja2.Environment:
    import jinja2  # here: a check compares with a render it has cached (compared()) without importing it

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files(package))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
        finalize=_finalize,
    )
    env.filters["py"] = py_literal
    env.filters["comment"] = comment_text
    return env


def render(template: str, context: dict, package: str = "jeg_wizard.templates", check: bool = True) -> str:
    """check=False: only to compare with a file on disk (the checks), never to write one."""
    text = _env(package).get_template(template).render(**context)
    if check and template.endswith(".py.j2"):
        check_shape(text, template, context, package)
    return text


def compared(template: str, context: dict, package: str = "jeg_wizard.templates") -> str:
    """render(check=False), for a comparison with a file on disk (the checks, at each status): the text
    rendered last time when the template's source, the context and the rendering code are the same, else
    rendered now (and kept, in the answers cache's directory). The same inputs render the same text; the
    cache only spares importing jinja2 and compiling the template."""
    import hashlib
    import importlib.util
    import os

    from . import __version__
    from .answers_cache import cache_dir, read_private, write_private

    source = resources.files(package) / template
    where = cache_dir()
    try:
        h = hashlib.sha256(f"{__version__} {package} {template}\n".encode())
        h.update(source.read_bytes())
        spec = importlib.util.find_spec("jinja2")
        for f in (__file__, spec.origin if spec else None):  # the filters, finalize; jinja2's own version
            st = os.stat(f) if f else None
            h.update(f"{f} {st.st_size if st else '-'} {st.st_mtime_ns if st else '-'}\n".encode())
        h.update(json.dumps(context).encode())
        key = h.hexdigest()
    except (OSError, TypeError, ValueError):
        return render(template, context, package, check=False)
    cached = os.path.join(where, f"render-{template}.json") if where else None
    if cached:
        try:
            data = json.loads(read_private(cached) or b"{}")
            if data.get("key") == key:
                return data["text"]
        except (ValueError, AttributeError, TypeError, KeyError):
            pass
    text = render(template, context, package, check=False)
    if cached:
        try:
            write_private(cached, json.dumps({"key": key, "text": text}))
        except OSError:
            pass
    return text


def _placeholders(v):
    """The context with every value replaced by a harmless one of the same type (and truthiness, which
    picks the template's branches): what the template alone makes of it."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        return (v > 0) - (v < 0)
    if isinstance(v, float):
        return float((v > 0) - (v < 0))
    if isinstance(v, str):
        return "x" if v else ""
    if isinstance(v, (list, tuple)):
        return [_placeholders(x) for x in v]
    if isinstance(v, dict):
        return {k: _placeholders(x) for k, x in v.items()}
    return v


def _shape(tree: ast.AST) -> str:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            node.value = type(node.value).__name__  # which constant, not its value
    return ast.dump(tree, include_attributes=False)


def check_shape(text: str, name: str, context: dict, package: str = "jeg_wizard.templates") -> None:
    """The rendered Python holds exactly the statements the template makes: its AST, constants aside, is
    the template's rendered on placeholder values. A value that got out of its literal would add a node."""
    try:
        real = ast.parse(text, name)
    except SyntaxError as e:
        raise RenderError(f"{name}: rendered Python does not parse: {e}") from None
    safe = _env(package).get_template(name).render(**_placeholders(context))
    if _shape(real) != _shape(ast.parse(safe, name)):
        raise RenderError(
            f"{name}: rendered Python differs in structure from its template; a value escaped its "
            f"literal (refusing to write it)"
        )


def kernel_files(kernel_template: str) -> list[str]:
    """Relative paths of the files in one kernels/<name>/ template directory."""
    root = resources.files("jeg_wizard.kernels") / kernel_template
    out = []

    def walk(node, prefix=""):
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            rel = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, rel + "/")
            elif child.name != "README.md":
                out.append(rel)

    walk(root)
    return out


def kernel_template_for(master: str) -> str:
    if master.startswith("spark://"):
        return "spark_python_standalone"
    if master == "yarn":
        return "spark_python_yarn"
    return "spark_python_local"


def pythonpath(layout: Layout) -> str:
    if layout.a.spark.source == "pypi":
        return str(layout.spark_link)
    # the py4j zip is versioned; name the real one once Spark is on disk
    zips = sorted(glob.glob(f"{layout.spark_real_home}/python/lib/py4j-*-src.zip"))
    py4j = (
        zips[-1].replace(str(layout.spark_real_home), str(layout.spark_home))
        if zips
        else f"{layout.spark_home}/python/lib/py4j-src.zip"
    )
    return f"{layout.spark_home}/python:{py4j}"


LAUNCHER = "launch_as_user.py"  # kernels/ -> each kernelspec dir (gateway.impersonation)


def kernel_argv(layout: Layout) -> list[str]:
    python = str(layout.kernel_venv / "bin" / "python")
    if layout.a.gateway.impersonation:
        # root runs it: -s keeps root's user site-packages out; the key stays in a file, never in argv
        return [python, "-s", str(layout.kernel_dir / LAUNCHER), "-f", "{connection_file}"]
    return [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


def _as_user(layout: Layout, argv: list[str]) -> list[str]:
    """A non-Python kernel's argv ending where its connection file goes: as given, or through the
    impersonation launcher (which appends its own copy of the file)."""
    if layout.a.gateway.impersonation:
        python = str(layout.kernel_venv / "bin" / "python")
        return [python, "-s", str(layout.kernel_dir / LAUNCHER), "-f", "{connection_file}", "--", *argv]
    return [*argv, "{connection_file}"]


def scala_argv(layout: Layout) -> list[str]:
    """Toree's jar under spark-submit, with the Python kernel's master, resources and spark_opts. No JVM perf
    file in /tmp (kernels.spark_opts' --driver-java-options replaces it). Toree makes `spark` at start
    (eager): created lazily, an interrupt before the first use would make it on the signal thread and fail,
    and the cell would run on."""
    a = layout.a
    submit = [str(layout.spark_home / "bin" / "spark-submit"), "--master", a.spark.master, "--name", "Apache Toree"]
    submit += [*resource_args(a), "--conf", "spark.driver.extraJavaOptions=-XX:-UsePerfData"]
    submit += [*shlex.split(a.kernels.spark_opts), "--class", "org.apache.toree.Main", str(layout.toree_jar)]
    return _as_user(layout, [*submit, "--spark-context-initialization-mode", "eager", "--profile"])


def sparkr_lib(layout: Layout) -> Path | None:
    """Where the Spark home carries the SparkR package (Apache's tarballs do; PyPI's pyspark does not)."""
    lib = layout.spark_real_home / "R" / "lib"
    return lib if (lib / "SparkR").is_dir() else None


def r_kernel(layout: Layout) -> dict:
    a, lib = layout.a, sparkr_lib(layout)
    env = {}
    if lib:
        env = {
            "SPARK_HOME": str(layout.spark_home),
            "JAVA_HOME": str(layout.java_home),
            "R_LIBS": str(lib),
            "SPARKR_SUBMIT_ARGS": " ".join(["--master", a.spark.master, *resource_args(a), "sparkr-shell"]),
        }
    return {
        "display_name": "R with SparkR" if lib else "R",
        "env": env,
        "argv": _as_user(layout, ["/usr/bin/R", "--slave", "-e", "IRkernel::main()", "--args"]),
    }


def kernel_launcher() -> str:
    return (resources.files("jeg_wizard.kernels") / LAUNCHER).read_text()


def context(layout: Layout, proxy_command: list[str] | None = None) -> dict:
    a = layout.a
    g, h, k = a.gateway, a.hub, a.kernels
    master = a.spark.master
    return {
        "gateway": {
            "ip": g.ip,
            "port": g.port,
            "url": layout.gateway_url,
            "venv": str(layout.gateway_venv),
            "token_file": str(layout.gateway_token_file),
            "config_file": str(layout.gateway_config),
            "kernels_dir": k.dir,
            "kernel_names": [d.name for d in layout.kernel_dirs],
            "runtime_dir": str(layout.gateway_runtime_dir),
            "log_file": str(layout.service_log("gateway")),
            "list_kernels": g.list_kernels,
            "port_retries": 0,
            # the gateway's own user too: a kernel as that user could read the gateway's token
            "unauthorized_users": sorted({*g.unauthorized_users, g.user}),
            "request_timeout": float(g.request_timeout),
            "kernel_launch_timeout": int(g.kernel_launch_timeout),
            "unauthorized_groups": list(g.unauthorized_groups),
            "max_kernels": g.max_kernels,
            "max_kernels_per_user": g.max_kernels_per_user,
            "cull_idle_timeout": g.cull_idle_timeout,
            "cull_interval": min(300, max(10, g.cull_idle_timeout // 4)),
            "port_range": g.port_range,
            "tls": layout.gateway_tls,
            "ca_file": str(layout.gateway_ca_file),
            "cert_file": str(layout.gateway_cert_file),
            "key_file": str(layout.gateway_key_file),
            "impersonation": g.impersonation,
            # impersonating: only the hub's users may be named in KERNEL_USERNAME
            "authorized_users": sorted({a.users.admin, *a.users.allowed}) if g.impersonation else [],
            "users_file": str(layout.hub_users_file),
            "directory_users": h.authenticator != "pam",
        },
        "hub": {
            "ip": h.ip,
            "port": h.port,
            "hub_ip": h.hub_ip,
            "hub_port": h.hub_port,
            "proxy_api_ip": a.proxy.api_ip,
            "proxy_api_port": a.proxy.api_port,
            "venv": str(layout.hub_venv),
            # IPv6 bracketed: the one place URLs are made from addresses is Layout
            "proxy_api_url": layout.proxy_api_url.removesuffix("/api/routes"),
            "state_dir": str(layout.hub_state_dir),
            "cookie_secret_file": str(layout.cookie_secret_file),
            "db_url": f"sqlite:///{layout.hub_state_dir}/jupyterhub.sqlite",
            "admin_user": a.users.admin,
            "allowed_users": sorted({a.users.admin, *a.users.allowed}),
            "users_file": str(layout.hub_users_file),
            # hub.gateway_client = "nb2kg": the classic notebook (no Lab) from its own venv, KG_* in its environment
            "nb2kg": h.gateway_client == "nb2kg",
            "singleuser": str(layout.singleuser),
            "default_url": "/tree" if h.gateway_client == "nb2kg" else h.default_url,
            "lab_news": h.lab_news,
            "proxy_command": proxy_command or [str(layout.proxy_bin)],
            "config_dir": str(layout.config_dir),
            "tls_cert": h.tls_cert,
            "tls_key": h.tls_key,
            # the LDAP service password or the OIDC client secret: the hub's 0600 copy, read at start
            "signin_secret_file": str(layout.signin_secret_file or ""),
            "oidc_callback_url": layout.oidc_callback_url if h.authenticator == "oidc" else "",
        },
        # which authenticator, as booleans: the template's branches (check_shape keeps truthiness only)
        "signin": {kind: h.authenticator == kind for kind in ("pam", "ldap", "oidc")},
        "ldap": a.ldap.model_dump() if h.authenticator == "ldap" else {},
        "oidc": a.oidc.model_dump() if h.authenticator == "oidc" else {},
        "kernel": {
            "name": k.name,
            "display_name": k.display_name,
            "python": str(layout.kernel_venv / "bin" / "python"),
            "spark_home": str(layout.spark_home),
            "java_home": str(layout.java_home),
            "pyspark_python": layout.pyspark_python,
            "master": master,
            "spark_opts": k.spark_opts,
            "local_ip": "127.0.0.1" if g.ip in ("0.0.0.0", "::") else g.ip,
            "pythonpath": pythonpath(layout),
            "resources": " ".join(resource_args(a)),
            "jvm_options": jvm_options(layout),
            "argv": kernel_argv(layout),
            "impersonation": g.impersonation,
        },
        "scala": {"display_name": f"Spark - Scala ({spark_mode(master)})", "argv": scala_argv(layout)}
        if k.scala
        else {},
        "r": r_kernel(layout) if k.r else {},
    }


def spark_mode(master: str) -> str:
    return kernel_template_for(master).removeprefix("spark_python_")


def jvm_options(layout: Layout) -> str:
    """spark-submit's options for a kernel's driver JVM, before kernels.spark_opts (whose own
    --driver-java-options wins): its class archive mapped, when there is one, and no perf-data file in /tmp
    (/tmp/hsperfdata_<user> outlived the kernels, and the uninstall)."""
    archive = layout.kernel_jvm_archive
    java = [f"-XX:SharedArchiveFile={archive}"] if archive else []
    return f"--driver-java-options {shlex.quote(' '.join([*java, '-XX:-UsePerfData']))}"


def resource_args(a) -> list[str]:
    """spark-submit options for what one kernel may take (answers spark.*_memory, *_cores, cores_max)."""
    s = a.spark
    args = ["--driver-memory", s.driver_memory]
    if s.master.startswith("spark://"):
        args += ["--executor-memory", s.executor_memory, "--conf", f"spark.executor.cores={s.executor_cores}"]
        args += ["--conf", f"spark.cores.max={s.cores_max}"]
    elif s.master == "yarn":
        args += ["--executor-memory", s.executor_memory, "--executor-cores", str(s.executor_cores)]
    return args


def check_python(text: str, name: str) -> None:
    try:
        compile(text, name, "exec")
    except SyntaxError as e:
        raise ValueError(f"{name}: rendered Python does not compile: {e}") from None


def check_json(text: str, name: str) -> None:
    try:
        json.loads(text)
    except ValueError as e:
        raise ValueError(f"{name}: rendered JSON does not load: {e}") from None
