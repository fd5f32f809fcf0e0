"""Real servers on this machine: a debootstrapped root file system per distribution, booted with
systemd as PID 1 in systemd-nspawn (see ../shared/HOSTS-FACTS.md for what was measured here).

Root file systems are built by the tests when missing and cached packed under CACHE
(`<distro>-<recipe digest>.tar.gz`: a changed recipe rebuilds). Each test module unpacks its own
writable copy, so a poweroff + boot keeps what the install did (the reboot test).

Fresh-server semantics: no java, node or pip in the image; python3 only because the README's
bootstrap needs a python (a Debian/Ubuntu server has one), python3-venv NOT included so the
bootstrap's own apt install runs.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

CACHE = Path(os.environ.get("JEGW_SYSTEMD_CACHE", "/var/cache/jegw-systemd"))
WORK = Path(os.environ.get("JEGW_SYSTEMD_WORK", "/var/tmp/jegw-systemd"))
SRC = Path(__file__).resolve().parents[2]  # the checkout, bound read-only at /src
RECIPE_VERSION = 1
INCLUDE = "systemd,systemd-sysv,dbus,python3,iproute2,curl,ca-certificates,procps"
CA_GLOB = "/usr/local/share/ca-certificates/*.crt"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

DEBIAN = "http://deb.debian.org/debian"
DEBIAN_SECURITY = "http://deb.debian.org/debian-security"
UBUNTU = "http://archive.ubuntu.com/ubuntu"
UBUNTU_SECURITY = "http://security.ubuntu.com/ubuntu"


@dataclass(frozen=True)
class Distro:
    key: str  # bookworm, trixie, noble, jammy
    title: str
    mirror: str
    security: str
    components: str
    script: str = ""  # debootstrap script when it has none named after the suite
    check_gpg: bool = True
    # jammy's systemd brings systemd-resolved and a /etc/resolv.conf pointing at its stub, which has
    # no upstream in a container sharing this machine's network: give it this machine's resolv.conf
    resolv_conf: str = "auto"
    # the install refuses this distribution before any change, saying this (and what to do instead)
    refused: str = ""

    def sources_list(self) -> str:
        k, c = self.key, self.components
        sec = f"{k}-security"
        return f"deb {self.mirror} {k} {c}\ndeb {self.mirror} {k}-updates {c}\ndeb {self.security} {sec} {c}\n"

    def recipe(self) -> dict:
        distro = {k: v for k, v in self.__dict__.items() if k not in ("resolv_conf", "refused")}  # not the image
        return {
            "v": RECIPE_VERSION,
            "include": INCLUDE,
            "distro": distro,
            "sources": self.sources_list(),
            "hosts": hosts_file(self.hostname),
        }

    @property
    def hostname(self) -> str:
        return f"jegw-{self.key}"

    @property
    def tarball(self) -> Path:
        digest = hashlib.sha256(json.dumps(self.recipe(), sort_keys=True).encode()).hexdigest()[:12]
        return CACHE / f"{self.key}-r{RECIPE_VERSION}-{digest}.tar.gz"


DISTROS = {
    "bookworm": Distro("bookworm", "Debian 12", DEBIAN, DEBIAN_SECURITY, "main"),
    "trixie": Distro("trixie", "Debian 13", DEBIAN, DEBIAN_SECURITY, "main"),
    "noble": Distro(
        "noble", "Ubuntu 24.04", UBUNTU, UBUNTU_SECURITY, "main restricted universe", script="gutsy", check_gpg=False
    ),
    "jammy": Distro(
        "jammy",
        "Ubuntu 22.04",
        UBUNTU,
        UBUNTU_SECURITY,
        "main restricted universe",
        script="gutsy",
        check_gpg=False,
        resolv_conf="replace-host",
        refused="proxy.version: node 12 (Ubuntu 22.04",
    ),
}


class Unavailable(Exception):
    """The archive for a distribution does not answer from here: the tests skip with this reason."""


def hosts_file(name: str) -> str:
    return (
        f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
    )


def run(argv: list[str], timeout: float, check: bool = True, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    if check and r.returncode:
        raise RuntimeError(f"{' '.join(argv)} exited {r.returncode}:\n{(r.stdout + r.stderr)[-3000:]}")
    return r


def host_tools() -> None:
    """systemd-nspawn and debootstrap on this machine (no recommends: see HOSTS-FACTS)."""
    if shutil.which("systemd-nspawn") and shutil.which("debootstrap"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    r = run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", "systemd-container", "debootstrap"],
        timeout=600,
        check=False,
        env=env,
    )
    if r.returncode:
        run(["apt-get", "update", "-q"], timeout=600, env=env)
        run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", "systemd-container", "debootstrap"],
            timeout=600,
            env=env,
        )


def archive_reachable(d: Distro) -> None:
    for url in (f"{d.mirror}/dists/{d.key}/Release", f"{d.security}/dists/{d.key}-security/Release"):
        try:
            with urllib.request.urlopen(url, timeout=20) as r:
                r.read(64)
        except Exception as exc:  # noqa: BLE001 - any failure means: not reachable from here
            raise Unavailable(f"{d.title} archive unreachable from this machine: {url}: {exc}") from exc


def ensure_rootfs_tarball(d: Distro, log=print) -> Path:
    """The cached packed root file system, built now when missing."""
    if d.tarball.exists():
        return d.tarball
    archive_reachable(d)
    host_tools()
    CACHE.mkdir(parents=True, exist_ok=True)
    build = Path(f"{WORK}/build-{d.key}-{os.getpid()}")
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir(parents=True)
    t0 = time.monotonic()
    try:
        argv = [
            "debootstrap",
            "--variant=minbase",
            f"--include={INCLUDE}",
            f"--components={d.components.replace(' ', ',')}",
        ]
        if not d.check_gpg:
            argv.append("--no-check-gpg")
        argv += [d.key, str(build), d.mirror]
        if d.script:
            argv.append(f"/usr/share/debootstrap/scripts/{d.script}")
        r = run(argv, timeout=1500, check=False)
        if r.returncode:
            tail = (r.stdout + r.stderr)[-2000:]
            log_file = build / "debootstrap/debootstrap.log"
            if log_file.exists():
                tail += "\n--- debootstrap.log ---\n" + log_file.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"debootstrap {d.key} failed ({r.returncode}):\n{tail}")
        # a server's apt sources: release, -updates, -security
        (build / "etc/apt/sources.list").write_text(d.sources_list())
        # this machine's egress CA certificates, as the container's own (not a bind: apt must be able
        # to upgrade ca-certificates)
        cadir = build / "usr/local/share/ca-certificates"
        cadir.mkdir(parents=True, exist_ok=True)
        for crt in glob.glob(CA_GLOB):
            shutil.copy(crt, cadir / Path(crt).name)
        run(["chroot", str(build), "update-ca-certificates"], timeout=120, env={"PATH": PATH, "LANG": "C.UTF-8"})
        # resolve our own name like a real server; no /etc/hostname (it would override --hostname)
        (build / "etc/hosts").write_text(hosts_file(d.hostname))
        (build / "etc/hostname").unlink(missing_ok=True)
        run(["chroot", str(build), "apt-get", "clean"], timeout=60, env={"PATH": PATH})
        for tool in ("java", "node", "pip3", "pip"):
            assert not any((build / p / tool).exists() for p in ("usr/bin", "usr/local/bin")), (
                f"a fresh server has no {tool}, but the {d.key} image does"
            )
        tmp = d.tarball.with_suffix(".tmp")
        run(
            ["tar", "-C", str(build), "--numeric-owner", "--xattrs", "-I", "gzip -1", "-cf", str(tmp), "."], timeout=900
        )
        os.rename(tmp, d.tarball)
        log(f"[systemd] built {d.title} root file system in {time.monotonic() - t0:.0f}s: {d.tarball}")
    finally:
        shutil.rmtree(build, ignore_errors=True)
    for old in CACHE.glob(f"{d.key}-r*.tar.gz"):
        if old != d.tarball:
            old.unlink(missing_ok=True)
    return d.tarball


def _leader(nspawn_pid: int) -> int | None:
    """The container's PID 1 seen from here: a child of systemd-nspawn in another pid namespace."""
    mine = os.readlink("/proc/self/ns/pid")
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == nspawn_pid and os.readlink(d / "ns/pid") != mine:
                return int(d.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


def _cgroup_dirs(machine: str) -> list[Path]:
    return [
        Path(f"/sys/fs/cgroup/{h}/ct-{machine}") for h in ("systemd", "unified") if Path(f"/sys/fs/cgroup/{h}").is_dir()
    ]


def _cgroup_pids(root: Path) -> set[int]:
    pids: set[int] = set()
    for procs in root.rglob("cgroup.procs"):
        try:
            pids |= {int(p) for p in procs.read_text().split()}
        except OSError:
            pass
    return pids


def _rm_cgroup(root: Path) -> None:
    if not root.exists():
        return
    for d in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        try:
            d.rmdir()
        except OSError:
            pass
    try:
        root.rmdir()
    except OSError:
        pass


@dataclass
class Machine:
    """One server: a writable root file system booted with systemd-nspawn."""

    distro: Distro
    root: Path
    binds: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None
    leader: int | None = None
    console: Path | None = None
    boots: int = 0
    netns: str = ""  # a host of a site: the network namespace it joins (tests/systemd/net.py)
    hostname: str = ""  # a host of a site: its own name (several machines of one distribution at once)

    @property
    def name(self) -> str:
        return self.hostname or self.distro.hostname

    # -- life cycle --------------------------------------------------------------------------
    @classmethod
    def create(cls, d: Distro, log=print, name: str = "", netns: str = "") -> Machine:
        """name and netns: a host of a site, in that site's namespace (no download caches: no route out)."""
        tarball = ensure_rootfs_tarball(d, log)
        base = WORK / f"run-{name or d.key}-{os.getpid()}"
        shutil.rmtree(base, ignore_errors=True)
        (base / "root").mkdir(parents=True)
        t0 = time.monotonic()
        run(["tar", "-C", str(base / "root"), "--numeric-owner", "--xattrs", "-xzf", str(tarball)], timeout=600)
        log(f"[systemd] unpacked {d.key} in {time.monotonic() - t0:.1f}s")
        caches = CACHE / f"caches-{d.key}"
        binds = [f"--bind-ro={SRC}:/src"]
        if name:  # resolves its own name like a real server
            (base / "root/etc/hosts").write_text(hosts_file(name))
        if netns:  # a host of a site: its namespace is the site's
            return cls(d, base / "root", binds, netns=netns, hostname=name)
        if Path("/etc/pip.conf").exists():
            binds.append("--bind-ro=/etc/pip.conf")
        # download caches only (what a re-run would fetch again): pip, npm, apt's .deb files
        (caches / "apt/partial").mkdir(parents=True, exist_ok=True)
        for sub, inside in (("pip", "/root/.cache/pip"), ("npm", "/root/.npm"), ("apt", "/var/cache/apt/archives")):
            (caches / sub).mkdir(parents=True, exist_ok=True)
            binds.append(f"--bind={caches / sub}:{inside}")
        return cls(d, base / "root", binds)

    def boot(self, timeout: float = 90) -> float:
        """Boot; returns seconds until `systemctl is-system-running --wait` answered."""
        assert self.proc is None, "already booted"
        self._cleanup_host_side()
        cgs = _cgroup_dirs(self.name)
        for cg in cgs:
            cg.mkdir(exist_ok=True)

        def into_own_cgroup():
            for cg in cgs:
                (cg / "cgroup.procs").write_text(str(os.getpid()))

        self.boots += 1
        self.console = self.root.parent / f"console-{self.boots}.log"
        argv = [
            "systemd-nspawn",
            "-D",
            str(self.root),
            "--boot",
            f"--machine={self.name}",
            f"--hostname={self.name}",
            "--register=no",
            "--keep-unit",
            "--console=read-only",
            f"--resolv-conf={self.distro.resolv_conf}",
            *([f"--network-namespace-path=/run/netns/{self.netns}"] if self.netns else []),
            *self.binds,
        ]
        t0 = time.monotonic()
        with open(self.console, "wb") as out:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=into_own_cgroup,
                start_new_session=True,
            )
        deadline = t0 + timeout
        while self.leader is None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"systemd-nspawn exited {self.proc.returncode}:\n{self.console_tail()}")
            if time.monotonic() > deadline:
                self.poweroff()
                raise TimeoutError(f"no container PID 1 within {timeout:.0f}s:\n{self.console_tail()}")
            self.leader = _leader(self.proc.pid)
            time.sleep(0.05)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.name} did not finish booting within {timeout:.0f}s:\n{self.console_tail()}")
            try:
                r = self.sh("systemctl is-system-running --wait", timeout=left)
            except subprocess.TimeoutExpired:
                continue
            state = r.stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.2)  # "starting" before dbus answers, or nsenter too early
        took = time.monotonic() - t0
        if state == "degraded":
            failed = self.sh("systemctl --failed --no-legend --plain", timeout=30).stdout.strip()
            print(f"[systemd] {self.name} booted degraded: {failed}")
        return took

    def poweroff(self, timeout: float = 60) -> None:
        """systemctl poweroff inside, wait for nspawn to exit, then clean what it leaves on the host."""
        if self.proc is None:
            return
        if self.proc.poll() is None and self.leader:
            try:
                self._nsenter(["systemctl", "poweroff"], timeout=20)
            except (subprocess.TimeoutExpired, OSError):
                pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc, self.leader = None, None
        self._cleanup_host_side()

    def _cleanup_host_side(self) -> None:
        shutil.rmtree(f"/run/systemd/nspawn/propagate/{self.name}", ignore_errors=True)
        for cg in _cgroup_dirs(self.name):
            if not cg.exists():
                continue
            deadline = time.monotonic() + 20
            while (left := _cgroup_pids(cg)) and time.monotonic() < deadline:
                for pid in left:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.2)
            _rm_cgroup(cg)

    def leftovers(self) -> list[str]:
        """What a powered-off machine left on the host: processes, cgroups, mounts."""
        out = [f"cgroup {cg}" for cg in _cgroup_dirs(self.name) if cg.exists()]
        out += ["propagate dir" for p in [Path(f"/run/systemd/nspawn/propagate/{self.name}")] if p.exists()]
        mounts = Path("/proc/self/mountinfo").read_text()
        out += [f"mount {line.split()[4]}" for line in mounts.splitlines() if str(self.root) in line]
        for pid_dir in Path("/proc").iterdir():
            if pid_dir.name.isdigit():
                try:
                    if os.readlink(pid_dir / "root").startswith(str(self.root)):
                        out.append(f"process {pid_dir.name}")
                except OSError:
                    pass
        return out

    def destroy(self) -> None:
        self.poweroff()
        if os.environ.get("JEGW_KEEP") != "1":
            shutil.rmtree(self.root.parent, ignore_errors=True)

    def console_tail(self, n: int = 3000) -> str:
        try:
            return self.console.read_text(errors="replace")[-n:] if self.console else ""
        except OSError:
            return ""

    # -- commands inside ---------------------------------------------------------------------
    def env(self, extra: dict | None = None) -> dict:
        """A root login's environment (nsenter passes ours on: never the host's)."""
        return {
            "PATH": PATH,
            "HOME": "/root",
            "USER": "root",
            "LOGNAME": "root",
            "SHELL": "/bin/bash",
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            **(extra or {}),
        }

    def _nsenter(self, argv: list[str], timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
        assert self.leader, f"{self.name} is not running"
        return subprocess.run(
            ["nsenter", "-t", str(self.leader), "-a", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(env),
            stdin=subprocess.DEVNULL,
            cwd="/",
        )

    def sh(self, script: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
        """`bash -lc SCRIPT` as root inside (a login shell: PATH as a user gets it). Secrets go in env."""
        return self._nsenter(["bash", "-lc", script], timeout, env)

    def ok(self, script: str, timeout: float = 120, env: dict | None = None) -> str:
        r = self.sh(script, timeout, env)
        assert r.returncode == 0, (
            f"inside {self.name}: `{script}` exited {r.returncode}:\n{(r.stdout + r.stderr)[-4000:]}"
        )
        return r.stdout

    def path(self, inside: str) -> Path:
        """A path of the container's file system, from the host."""
        return self.root / inside.lstrip("/")
