"""Renders templates/ and kernels/ with one context built from the answers, and validates output."""
from __future__ import annotations

import glob
import json
from importlib import resources

import jinja2

from .layout import Layout


def _env(package: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files(package))),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(template: str, context: dict, package: str = "jeg_wizard.templates") -> str:
    return _env(package).get_template(template).render(**context)


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
    py4j = zips[-1].replace(str(layout.spark_real_home), str(layout.spark_home)) if zips else f"{layout.spark_home}/python/lib/py4j-src.zip"
    return f"{layout.spark_home}/python:{py4j}"


LAUNCHER = "launch_as_user.py"  # kernels/ -> each kernelspec dir (gateway.impersonation)


def kernel_argv(layout: Layout) -> list[str]:
    python = str(layout.kernel_venv / "bin" / "python")
    if layout.a.gateway.impersonation:
        # root runs it: -s keeps root's user site-packages out; the key stays in a file, never in argv
        return [python, "-s", str(layout.kernel_dir / LAUNCHER), "-f", "{connection_file}"]
    return [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


def kernel_launcher() -> str:
    return (resources.files("jeg_wizard.kernels") / LAUNCHER).read_text()


def context(layout: Layout, proxy_command: list[str] | None = None) -> dict:
    a = layout.a
    g, h, k = a.gateway, a.hub, a.kernels
    master = a.spark.master
    return {
        "gateway": {
            "ip": g.ip, "port": g.port, "url": layout.gateway_url, "venv": str(layout.gateway_venv),
            "token_file": str(layout.gateway_token_file), "config_file": str(layout.gateway_config),
            "kernels_dir": k.dir, "runtime_dir": str(layout.gateway_runtime_dir),
            "log_file": str(layout.service_log("gateway")), "list_kernels": g.list_kernels,
            "port_retries": 0,
            # the gateway's own user too: a kernel as that user could read the gateway's token
            "unauthorized_users": sorted({*g.unauthorized_users, g.user}),
            "request_timeout": float(g.request_timeout), "kernel_launch_timeout": int(g.kernel_launch_timeout),
            "unauthorized_groups": list(g.unauthorized_groups), "max_kernels": g.max_kernels,
            "max_kernels_per_user": g.max_kernels_per_user, "cull_idle_timeout": g.cull_idle_timeout,
            "cull_interval": min(300, max(10, g.cull_idle_timeout // 4)), "port_range": g.port_range,
            "tls": layout.gateway_tls, "ca_file": str(layout.gateway_ca_file),
            "cert_file": str(layout.gateway_cert_file), "key_file": str(layout.gateway_key_file),
            "impersonation": g.impersonation,
            # impersonating: only the hub's users may be named in KERNEL_USERNAME
            "authorized_users": sorted({a.users.admin, *a.users.allowed}) if g.impersonation else [],
        },
        "hub": {
            "ip": h.ip, "port": h.port, "hub_ip": h.hub_ip, "hub_port": h.hub_port,
            "proxy_api_ip": a.proxy.api_ip, "proxy_api_port": a.proxy.api_port, "venv": str(layout.hub_venv),
            "state_dir": str(layout.hub_state_dir), "cookie_secret_file": str(layout.cookie_secret_file),
            "db_url": f"sqlite:///{layout.hub_state_dir}/jupyterhub.sqlite", "admin_user": a.users.admin,
            "allowed_users": sorted({a.users.admin, *a.users.allowed}), "default_url": h.default_url,
            "proxy_command": proxy_command or [str(layout.proxy_bin)], "config_dir": str(layout.config_dir),
            "tls_cert": h.tls_cert, "tls_key": h.tls_key,
        },
        "kernel": {
            "name": k.name, "display_name": k.display_name, "python": str(layout.kernel_venv / "bin" / "python"),
            "spark_home": str(layout.spark_home), "java_home": str(layout.java_home),
            "pyspark_python": layout.pyspark_python, "master": master, "spark_opts": k.spark_opts,
            "local_ip": "127.0.0.1" if g.ip in ("0.0.0.0", "::") else g.ip, "pythonpath": pythonpath(layout),
            "cores_max": a.spark.cores_max, "argv": kernel_argv(layout), "impersonation": g.impersonation,
        },
    }


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
