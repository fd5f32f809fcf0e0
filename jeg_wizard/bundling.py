"""`jeg-wizard bundle ANSWERS -o FILE`: gather, on a connected machine of the target's distribution,
everything an install of those answers needs (see jeg_wizard/bundle.py for the format and its use).

What an install wants is one function, `wants`: the build gathers it and records it in bundle.json,
and the gate of `install --bundle` compares it with what the same function says on the target.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from . import __version__, bundle, distro, download
from .answers import Answers
from .layout import Layout

PROXY_PACKAGE = "configurable-http-proxy"
PROXY_RELEASES = ("4.6.3", "5.3.0")  # proxy.version = auto picks one by the node present (distro.proxy_version_for)
# the wizard's own venv is built from the checkout by the bootstrap: its build backend comes along
WIZARD_BUILD = ["setuptools>=61"]


def arch() -> str:
    try:
        out = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        out = ""
    return out.strip() or platform.machine()


def wants(a: Answers) -> dict:
    """What an install of these answers takes from a bundle, on this machine."""
    from jeg_wizard.releases import NB2KG_REQUIREMENTS, R_PACKAGES, TOREE_REQUIREMENT
    from jeg_wizard.steps import gateway, hub, kernelspecs, system

    d = distro.detect()
    debs = [*system.BASE_PACKAGES, "nodejs"]  # no npm: the proxy comes installed (see _npm)
    if not a.java.home:
        debs.insert(len(system.BASE_PACKAGES), distro.java_package(a.java.version))
    s = a.spark
    venvs = {
        "hub": hub.HUB_REQUIREMENTS,
        "gateway": [*gateway.GATEWAY_DEPENDENCIES, *(f"--no-deps {r}" for r in gateway.GATEWAY_REQUIREMENTS)],
        "kernel": kernelspecs.KERNEL_REQUIREMENTS,
    }
    if a.hub.gateway_client == "nb2kg":  # its own venv (steps/gateway_client.py)
        venvs["nb2kg"] = list(NB2KG_REQUIREMENTS)
    if s.source == "pypi":
        venvs["spark"] = [f"pyspark=={s.version}"]
    if a.kernels.scala:  # Toree's jar, from its pip package (steps/kernelspecs.py)
        venvs["toree"] = [f"--no-deps {TOREE_REQUIREMENT}"]
    if a.kernels.r:
        debs += list(R_PACKAGES)
    if a.proxy.version != "auto":
        npm = [a.proxy.version]
    else:  # the node the install will run the proxy on: the one here, or the one the bundle brings
        npm = [distro.proxy_version_for(distro.node_major() or distro.APT_NODE.get((d.id, d.version_id)))]
    return {
        "platform": {
            "distro": f"{d.id} {d.version_id}",
            "arch": arch(),
            "python": distro.python_version(a.system.python),
        },
        "debs": debs,
        "venvs": venvs,
        "npm": npm,
        "spark": {
            "source": s.source,
            "version": s.version,
            "url": s.url if s.source == "url" else "",
            "tarball": s.tarball if s.source == "tarball" else "",
        },
    }


class BuildError(Exception):
    pass


def _run(argv: list[str], log, env: dict | None = None, timeout: float = 3600) -> None:
    log.write(f"$ {' '.join(argv)}\n")
    log.flush()
    r = subprocess.run(
        argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, timeout=timeout, check=False
    )
    if r.returncode:
        raise BuildError(f"`{' '.join(argv[:6])}…` exited {r.returncode}; see {log.name}")


def _debs(out: Path, pkgs: list[str], work: Path, log) -> None:
    """The packages' whole closure as if nothing were installed (a minimal target lacks some of it;
    its apt takes only what is missing), then a flat repository index over them."""
    state = work / "apt-state"
    (state / "lists").mkdir(parents=True, exist_ok=True)
    (out / "partial").mkdir(parents=True, exist_ok=True)
    (state / "status").write_text("")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    _run(["apt-get", "update", "-q"], log, env)
    _run(
        [
            "apt-get",
            "install",
            "--download-only",
            "-y",
            "-q",
            "--no-install-recommends",
            "-o",
            f"Dir::State::status={state / 'status'}",
            "-o",
            f"Dir::Cache::archives={out}",
            "-o",
            "Debug::NoLocking=1",
            *pkgs,
        ],
        log,
        env,
    )
    shutil.rmtree(out / "partial", ignore_errors=True)
    (out / "lock").unlink(missing_ok=True)
    entries = []
    for deb in sorted(out.glob("*.deb")):
        control = subprocess.run(["dpkg-deb", "-f", str(deb)], capture_output=True, text=True, check=True).stdout
        data = deb.read_bytes()
        entries.append(
            control.rstrip("\n")
            + f"\nFilename: ./{deb.name}\nSize: {len(data)}\nSHA256: {hashlib.sha256(data).hexdigest()}\n"
        )
    packages = "\n".join(entries)
    (out / "Packages").write_text(packages)
    digest = hashlib.sha256(packages.encode()).hexdigest()
    date = time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime())
    (out / "Release").write_text(
        f"Origin: jeg-wizard bundle\nLabel: jeg-wizard bundle\nDate: {date}\n"
        f"SHA256:\n {digest} {len(packages.encode())} Packages\n"
    )


def _wheels(out: Path, venvs: dict[str, list[str]], python: str, work: Path, log) -> None:
    """Wheels for every venv, built by a venv of system.python (the interpreter the install builds
    them with): sdists such as pyspark's become wheels here, so the target never builds one."""
    builder = work / "build-venv"
    _run([python, "-m", "venv", str(builder)], log)
    pip = [str(builder / "bin" / "python"), "-m", "pip"]
    _run([*pip, "install", "-q", "--upgrade", "pip", "wheel", "setuptools"], log)
    wheel = [*pip, "wheel", "--use-pep517", "--progress-bar", "off", "--wheel-dir", str(out)]
    wizard = [r for r in (metadata.requires("jeg-wizard") or []) if "extra ==" not in r]
    for name, reqs in {**venvs, "wizard": [*wizard, *WIZARD_BUILD]}.items():
        plain = [r for r in reqs if not r.startswith("--no-deps ")]
        no_deps = [r.split(" ", 1)[1] for r in reqs if r.startswith("--no-deps ")]
        log.write(f"# wheels for the {name} environment\n")
        _run([*wheel, *plain], log)
        if no_deps:
            _run([*wheel, "--no-deps", *no_deps], log)


def _npm(out: Path, versions: list[str], work: Path, log) -> None:
    """The proxy as npm installs it here, one tar per release: pure JavaScript, so the tree runs on the
    target's node as it is (an npm cache would not: npm releases key their caches differently)."""
    if not shutil.which("npm"):
        raise BuildError("npm is not installed on this machine: the bundle carries the proxy's npm packages")
    out.mkdir(parents=True, exist_ok=True)
    last = f"node_modules/{PROXY_PACKAGE}/package.json"  # what NpmInstall.done reads: a cut-off unpack never looks done

    def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return None if info.name == last else info

    for v in versions:
        prefix = work / f"npm-{v}"
        _run(
            [
                "npm",
                "install",
                "--prefix",
                str(prefix),
                "--cache",
                str(work / "npm-cache"),
                "--no-audit",
                "--no-fund",
                "--omit=dev",
                f"{PROXY_PACKAGE}@{v}",
            ],
            log,
        )
        with tarfile.open(out / f"{PROXY_PACKAGE}-{v}.tar", "w:", format=tarfile.PAX_FORMAT) as tar:
            for entry in sorted(prefix.iterdir()):
                tar.add(entry, arcname=entry.name, filter=owned_by_root)
            info = tar.gettarinfo(str(prefix / last), arcname=last)
            with open(prefix / last, "rb") as f:
                tar.addfile(owned_by_root(info) or info, f)


def _spark(out: Path, a: Answers, log) -> dict:
    """The tarball the answers take (apache, url, tarball), with the sha512 the install verifies."""
    s, L = a.spark, Layout(a)
    if s.source == "pypi":
        return {}
    out.mkdir(parents=True, exist_ok=True)
    if s.source == "tarball":
        dest = out / Path(s.tarball).name
        shutil.copyfile(s.tarball, dest)
    else:
        dest = out / L.spark_download.name
        want = s.sha512
        if not want and s.source == "apache":
            text = download.fetch_text(L.spark_url + ".sha512")
            want = download.parse_sha512(text) if text else ""
        download.fetch(L.spark_url, dest, want, emit=lambda line: log.write(line + "\n"))
    got = download.sha512_of(dest)
    if s.sha512 and got != s.sha512:
        raise BuildError(f"spark.sha512: {dest.name} has sha512 {got[:16]}…, the answers say {s.sha512[:16]}…")
    return {"file": dest.name, "sha512": got}


PHASES = ("packages (.deb)", "Python wheels", "npm packages", "Spark", "manifest", "pack")


def build(
    a: Answers, output: Path, phase: Callable[[str], None] = print, packing: Callable[[int, int], None] | None = None
) -> dict:
    """Write the bundle to output (atomically); returns its bundle.json."""
    output = output.resolve()
    work = output.with_name(f".{output.name}.build")
    shutil.rmtree(work, ignore_errors=True)
    tree = work / "bundle"
    tree.mkdir(parents=True)
    t0 = time.monotonic()
    w = wants(a)
    log_path = output.with_name(output.name + ".log")
    with open(log_path, "w") as log:
        try:
            phase(PHASES[0])
            _debs(tree / "debs", w["debs"], work, log)
            phase(PHASES[1])
            _wheels(tree / "wheels", w["venvs"], a.system.python, work, log)
            phase(PHASES[2])
            w["npm"] = list(PROXY_RELEASES) if a.proxy.version == "auto" else [a.proxy.version]
            _npm(tree / "npm", w["npm"], work, log)
            phase(PHASES[3])
            w["spark"].update(_spark(tree / "spark", a, log))
            phase(PHASES[4])
            meta = {
                "format": bundle.FORMAT,
                "built_by": f"jeg-wizard {__version__}",
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "wants": w,
            }
            (tree / bundle.META).write_text(json.dumps(meta, indent=2) + "\n")
            bundle.write_sums(tree)
            phase(PHASES[5])
            _pack(tree, output, packing)
        except subprocess.TimeoutExpired as e:
            raise BuildError(f"`{' '.join(e.cmd[:4])}…` took longer than {e.timeout:.0f}s; see {log_path}") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
            output.with_name(f".{output.name}.partial").unlink(missing_ok=True)
    meta["seconds"] = round(time.monotonic() - t0, 1)
    meta["bytes"] = output.stat().st_size
    return meta


def _pack(tree: Path, output: Path, packing) -> None:
    """Uncompressed: wheels, debs and tarballs are compressed already, and unpacking stays fast."""
    files = sorted(p for p in tree.rglob("*") if p.is_file())
    total, done = sum(p.stat().st_size for p in files), 0
    tmp = output.with_name(f".{output.name}.partial")
    with tarfile.open(tmp, "w:", format=tarfile.PAX_FORMAT) as tar:
        for p in files:
            info = tar.gettarinfo(str(p), arcname=p.relative_to(tree).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = 0o644
            with open(p, "rb") as f:
                tar.addfile(info, f)
            done += info.size
            if packing:
                packing(done, total)
    os.chmod(tmp, 0o644)
    os.rename(tmp, output)


def main(a: Answers, output: str) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    out = Path(output)
    if out.is_dir():
        print(
            f"bundle: -o {output} is a directory; give a file name, e.g. {out / 'jeg-wizard-bundle.tar'}",
            file=sys.stderr,
        )
        return 2
    if not out.resolve().parent.is_dir():
        print(f"bundle: -o {output}: the directory {out.resolve().parent} does not exist", file=sys.stderr)
        return 2
    started = time.monotonic()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeElapsedColumn(), console=console
    ) as bar:
        steps = bar.add_task("bundle", total=len(PHASES))
        pack = bar.add_task("pack", total=None, visible=False)
        seen: list[str] = []

        def phase(name: str) -> None:
            if seen:
                bar.advance(steps)
            seen.append(name)
            bar.update(steps, description=f"bundle: {name}")

        def packing(done: int, total: int) -> None:
            bar.update(pack, completed=done, total=total, visible=True)

        try:
            meta = build(a, out, phase, packing)
        except (BuildError, download.DownloadError, OSError) as e:
            failed = e
        else:
            failed = None
            bar.advance(steps)
    if failed:  # after the bar is gone: the message is whole, one line, in the terminal and any log
        print(f"bundle failed, {out} was not written: {failed}", file=sys.stderr)
        return 1
    w = meta["wants"]
    print(
        f"bundle {out}: {meta['bytes'] / 1e6:.0f} MB in {time.monotonic() - started:.0f}s, for "
        f"{w['platform']['distro']} {w['platform']['arch']} Python {w['platform']['python']}: "
        f"{len(list(_names(out, 'debs/')))} .deb, {len(list(_names(out, 'wheels/')))} wheels, "
        f"configurable-http-proxy {', '.join(w['npm'])}, Spark {w['spark']['version']} ({w['spark']['source']})"
    )
    print(f"on the target: ./jeg-wizard install --unattended ANSWERS --bundle {out.name}")
    return 0


def _names(tar_path: Path, prefix: str):
    with tarfile.open(tar_path, "r:") as tar:
        for m in tar:
            if m.name.startswith(prefix) and m.name.endswith((".deb", ".whl")):
                yield m.name
