"""What the system must give each person and the gateway for them to work: the admin and every allowed
user (account, home, its owner and mode, a login shell), the gateway's account and state dirs, and every
secret file of ours (Layout.secret_files: owner and mode 0600)."""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from .finding import Finding, ok, problem, unknown
from .install import Install

NO_LOGIN = ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false", "")


def _shells() -> set[str]:
    try:
        return {line.strip() for line in Path("/etc/shells").read_text().splitlines() if line.startswith("/")}
    except OSError:
        return set()


def hub_user(site: Install, name: str, what: str, shells: set[str]) -> Finding:
    """A person who logs in to the hub: their server is spawned as them, in their home."""
    admin = name == site.a.users.admin
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        return problem(
            "hub",
            what,
            f"user {name} does not exist: PAM login is impossible",
            "re-run the install (admin_user step) or adduser " + name
            if admin
            else f"adduser {name} (or take {name} out of users.allowed)",
        )
    home = pw.pw_dir
    try:
        st = os.stat(home)
    except FileNotFoundError:
        return problem(
            "hub",
            what,
            f"{name}'s home {home} does not exist: their server cannot start (it runs in the home)",
            f"mkhomedir_helper {name}  (or: mkdir -p {home} && chown {name}: {home} && chmod 750 {home})",
        )
    except OSError as e:
        return unknown("hub", what, f"cannot look at {name}'s home {home}: {e.strerror}", "run the doctor as root")
    mode = stat.S_IMODE(st.st_mode)
    if not stat.S_ISDIR(st.st_mode):
        return problem(
            "hub", what, f"{name}'s home {home} is not a directory", f"move it aside and mkhomedir_helper {name}"
        )
    if st.st_uid != pw.pw_uid:
        return problem(
            "hub",
            what,
            f"{name}'s home {home} is owned by uid {st.st_uid}, not {name}: their server cannot write its files "
            "(the spawn fails or Lab cannot save)",
            f"chown -R {name}: {home}",
        )
    if mode & 0o022:
        return problem(
            "hub",
            what,
            f"{name}'s home {home} has mode {mode:o}: others can write in it (plant startup files run as {name})",
            f"chmod go-w {home}",
        )
    shell = pw.pw_shell
    if shell in NO_LOGIN or not os.access(shell, os.X_OK) or (shells and shell not in shells):
        return problem(
            "hub",
            what,
            f"{name}'s shell is {shell or '(none)'}, not a login shell: JupyterLab's terminals open with it and close "
            "at once",
            f"chsh -s /bin/bash {name}",
            warning=True,
        )
    return ok("hub", what, f"{name} exists; home {home} (theirs, mode {mode:o}); shell {shell}")


def hub_users(site: Install) -> list[Finding]:
    u, shells = site.a.users, _shells()
    out = [hub_user(site, u.admin, "admin user", shells)]
    return out + [hub_user(site, name, f"user {name}", shells) for name in u.allowed if name != u.admin]


def gateway_user(site: Install) -> list[Finding]:
    """The gateway's system account and the state dirs it writes (its home, the kernels' runtime dir)."""
    L, name = site.L, site.a.gateway.user
    if name == "root":
        return []
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        return [
            problem(
                "gateway",
                "gateway user",
                f"the gateway's account {name} does not exist: the gateway cannot start",
                "re-run the install (gateway step creates it)",
            )
        ]
    for d in (L.gateway_home, L.gateway_runtime_dir):
        try:
            st = os.stat(d)
        except FileNotFoundError:
            return [
                problem(
                    "gateway",
                    "gateway user",
                    f"{d} is missing: the gateway and its kernels write there",
                    f"re-run the install (gateway step), or: install -d -o {name} -m 700 {d}",
                )
            ]
        except OSError as e:
            return [unknown("gateway", "gateway user", f"cannot look at {d}: {e.strerror}", "run the doctor as root")]
        if st.st_uid != pw.pw_uid:
            return [
                problem(
                    "gateway",
                    "gateway user",
                    f"{d} is owned by uid {st.st_uid}, not {name}: the gateway cannot write its kernels' files",
                    f"chown -R {name}: {d}",
                )
            ]
        if stat.S_IMODE(st.st_mode) & 0o022:
            return [
                problem(
                    "gateway",
                    "gateway user",
                    f"{d} has mode {stat.S_IMODE(st.st_mode):o}: others can write the kernels' connection files",
                    f"chmod go-w {d}",
                )
            ]
    return [ok("gateway", "gateway user", f"{name} exists; {L.gateway_home} and its runtime dir are its own")]


def secret_files(site: Install, component: str) -> list[Finding]:
    """Each secret file of this component: a regular file, owned by its account, mode 0600 (or stricter)."""
    out, good = [], []
    for comp, what, path, owner in site.L.secret_files:
        if comp != component:
            continue
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue  # the checks that read it say it is missing (the cookie secret: a warning)
        except OSError as e:
            out.append(unknown(component, what, f"cannot look at {path}: {e.strerror}", "run the doctor as root"))
            continue
        mode = stat.S_IMODE(st.st_mode)
        try:
            uid = pwd.getpwnam(owner).pw_uid
        except KeyError:
            uid = None  # the account check names a missing account
        if not stat.S_ISREG(st.st_mode):
            out.append(problem(component, what, f"{path} is not a regular file", "re-run the install"))
        elif mode & 0o077:
            out.append(
                problem(
                    component,
                    what,
                    f"{path} has mode {mode:o}: others can read it"
                    + (" and forge login cookies" if what == "cookie secret" else ""),
                    f"chmod 600 {path}",
                )
            )
        elif uid is not None and st.st_uid != uid:
            out.append(
                problem(
                    component,
                    what,
                    f"{path} is owned by uid {st.st_uid}, not {owner}"
                    + (": the gateway cannot read it" if owner != "root" else ": another account can read it"),
                    f"chown {owner} {path}",
                )
            )
        else:
            good.append(f"{path.name} ({owner}, {mode:o})")
    if good and not out:
        out.append(ok(component, "secret files", ", ".join(good)))
    return out
