"""Issue 14 item 4: 200 hub users from a CSV, twice (the second run changes nothing), then removed —
real PAM accounts, real logins through the real hub, the admin's server kept across the restart."""

from __future__ import annotations

import crypt  # deprecated, still in 3.11 and 3.12: makes the hash a CSV may carry
import os
import pwd
import stat
import subprocess
import time

import httpx
import pytest

from .conftest import _SUFFIX, ADMIN, TIMINGS, spawn, user_servers, wizard

COUNT = 200
NAMES = [f"jegwu{_SUFFIX}{i:03d}" for i in range(COUNT)]
HASHED_PASSWORD = "Hashed-" + _SUFFIX * 3


def login(hub_url: str, user: str, password: str) -> bool:
    """A PAM login through the hub's form: True when the hub takes it."""
    with httpx.Client(follow_redirects=False, timeout=30) as c:
        c.get(f"{hub_url}/hub/login")
        r = c.post(
            f"{hub_url}/hub/login?next=",
            data={"username": user, "password": password, "_xsrf": c.cookies.get("_xsrf") or ""},
        )
        return r.status_code in (302, 303) and "/hub/login" not in r.headers.get("location", "")


@pytest.fixture
def bulk(installed, tmp_path):
    csv = tmp_path / "class.csv"
    pw_hash = crypt.crypt(HASHED_PASSWORD, crypt.mksalt(crypt.METHOD_SHA512))
    rows = ["name,admin,password_hash", f"{NAMES[0]},yes"]
    rows += [f"{NAMES[1]},no,{pw_hash}"] + NAMES[2:]
    csv.write_text("\n".join(rows) + "\n")
    yield csv
    for n in NAMES:  # whatever the test left
        subprocess.run(["userdel", "-r", n], capture_output=True)


def users(installed, *args: str) -> subprocess.CompletedProcess:
    return wizard("users", *args, "--answers", str(installed.answers_path), timeout=600)


def test_200_users_from_a_csv_twice_then_removed(installed, bulk, tmp_path):
    spawn(installed)
    admin_server = user_servers(ADMIN)
    hub_url = installed.layout.hub_url
    passwords = tmp_path / "passwords.csv"

    t0 = time.monotonic()
    r = users(installed, "add", "--csv", str(bulk), "--passwords", str(passwords))
    first = time.monotonic() - t0
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    assert f"users add: {COUNT} users, {COUNT} new accounts" in out, out[-2000:]
    assert "hub: running" in out, out[-2000:]
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
    given = dict(line.split(",", 1) for line in passwords.read_text().splitlines())
    assert set(given) == set(NAMES) - {NAMES[1]}  # the one with a hash has no generated password
    assert all(pwd.getpwnam(n).pw_dir == f"/home/{n}" and os.path.isdir(f"/home/{n}") for n in NAMES)
    for secret in given.values():  # never on the screen or in the log
        assert secret not in out and secret not in installed.layout.install_log.read_text()
    assert login(hub_url, NAMES[0], given[NAMES[0]])  # an admin from the CSV
    assert login(hub_url, NAMES[1], HASHED_PASSWORD)  # its hash from the CSV
    assert login(hub_url, NAMES[-1], given[NAMES[-1]])
    assert not login(hub_url, NAMES[-1], "wrong-password")
    assert user_servers(ADMIN) == admin_server, "the hub restart took the admin's server down"
    TIMINGS.append(f"bulk users: {COUNT} added in {first:.1f}s (the hub restart included)")

    t0 = time.monotonic()
    r = users(installed, "add", "--csv", str(bulk), "--passwords", str(tmp_path / "again.csv"))
    again = time.monotonic() - t0
    assert r.returncode == 0 and "0 new accounts" in r.stdout and "nothing to restart" in r.stdout, r.stdout
    assert not (tmp_path / "again.csv").exists()
    assert login(hub_url, NAMES[2], given[NAMES[2]])  # their passwords kept
    TIMINGS.append(f"bulk users: the same CSV again in {again:.1f}s, nothing changed")

    t0 = time.monotonic()
    r = users(installed, "remove", "--csv", str(bulk))
    removed = time.monotonic() - t0
    assert r.returncode == 0 and f"{COUNT} accounts removed (homes kept)" in r.stdout, (r.stdout + r.stderr)[-2000:]
    assert not login(hub_url, NAMES[2], given[NAMES[2]])
    with pytest.raises(KeyError):
        pwd.getpwnam(NAMES[2])
    assert os.path.isdir(f"/home/{NAMES[2]}")
    r = users(installed, "remove", NAMES[2])
    assert r.returncode == 0 and "0 accounts removed" in r.stdout and "nothing to restart" in r.stdout, r.stdout
    TIMINGS.append(f"bulk users: {COUNT} removed in {removed:.1f}s")


def test_a_bad_csv_changes_nothing(installed, tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text(f"{NAMES[0]}\nroot\n{NAMES[1]},maybe\n")
    before = installed.layout.hub_users_file.read_bytes() if installed.layout.hub_users_file.exists() else None
    r = users(installed, "add", "--csv", str(csv))
    assert r.returncode == 2 and "nothing was changed" in r.stderr, r.stderr
    assert "root may not be a hub user" in r.stderr and "line 3: admin 'maybe'" in r.stderr
    with pytest.raises(KeyError):
        pwd.getpwnam(NAMES[0])
    after = installed.layout.hub_users_file.read_bytes() if installed.layout.hub_users_file.exists() else None
    assert after == before
    r = users(installed, "remove", ADMIN)
    assert r.returncode == 2 and "come from the answers (users.admin, users.allowed)" in r.stderr, r.stderr
