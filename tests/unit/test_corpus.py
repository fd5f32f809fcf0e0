"""The corpus of malformed answers files (tests/corpus/*.toml) and malformed flags: each is refused
with exit 2 and a message naming the field, no traceback, and nothing on disk changes.

Most cases run `cli.main` in this process (an escaping exception fails the test as a traceback
would); the `crash-*` files and the FIFO/device/long-name flags run `python -m jeg_wizard` in a
subprocess, where a hang, a recursion or a traceback on stderr is what is being ruled out.

Each corpus file holds one fault; its first line says what the message must contain:
`# expect: <substring>`. `@ROOT@` stands for the test's temp dir and `@BUSY_PORT@` for a port a
listener holds. Sections a file does not set are pointed into the temp dir (paths) so that a
wrongly accepted file could only ever touch the temp dir, which is hashed before and after.
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
FILES = sorted(CORPUS.glob("*.toml"))
FOREIGN_ENV = b'PATH="/usr/bin:/bin"\n#  keep   me\nLANG=C.UTF-8'
FOREIGN_HUB_CONFIG = b"# the operator's own\nc.JupyterHub.port = 9999\n"
DEFAULT_PATHS = [Path("/var/lib/jeg-wizard"), Path("/var/log/jeg-wizard")]

DEFAULT_TABLES = {
    "system": 'prefix = "@ROOT@/opt"\nstate_dir = "@ROOT@/state"\nlog_dir = "@ROOT@/log"',
    "environment": 'file = "@ROOT@/etc/environment"',
    "kernels": 'dir = "@ROOT@/share/jupyter/kernels"',
    "hub": 'config_dir = "@ROOT@/etc/jupyter"\nip = "127.0.0.1"',
    "users": 'admin = "jegwcorpus"\nadmin_password_env = "JEGW_CORPUS_PW"',
    "services": 'manager = "process"\nstart = false',
}


def snapshot(root: Path) -> dict[str, str]:
    """Every path under root: a file's sha256 and mode, a dir's mode, a link's target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            if p.is_symlink():
                out[str(p)] = "link:" + os.readlink(p)
            elif p.is_dir():
                out[str(p)] = f"dir:{st.st_mode:o}"
            elif not stat.S_ISREG(st.st_mode):  # a FIFO: never opened (it would block)
                out[str(p)] = f"special:{st.st_mode:o}"
            else:
                out[str(p)] = f"{st.st_mode:o}:" + hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "environment").write_bytes(FOREIGN_ENV)
    (tmp_path / "etc" / "jupyter").mkdir()
    (tmp_path / "etc" / "jupyter" / "jupyterhub_config.py").write_bytes(FOREIGN_HUB_CONFIG)
    pw = tmp_path / "readable-password"
    pw.write_text("Corpus-Pass-1\n")
    pw.chmod(0o644)
    token = tmp_path / "readable-token"
    token.write_text("corpus-token-0123456789\n")
    token.chmod(0o644)
    key = tmp_path / "private-key"  # 0600 like a token, but a key: its content must never reach user servers
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n")
    key.chmod(0o600)
    (tmp_path / "etc-link").symlink_to("/etc")  # a directory of ours must not be a system one through a link
    os.mkfifo(tmp_path / "pw-fifo", 0o600)  # reading it would block forever
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    yield tmp_path, busy.getsockname()[1]
    busy.close()


def materialize(src: bytes, root: Path, busy_port: int) -> bytes:
    text = src.replace(b"@ROOT@", str(root).encode()).replace(b"@BUSY_PORT@", str(busy_port).encode())
    for section, body in DEFAULT_TABLES.items():
        if not re.search(rb"^\s*\[\[?" + section.encode() + rb"[\].]|^" + section.encode() + rb"\s*=", text, re.M):
            text += f"\n[{section}]\n{body}\n".replace("@ROOT@", str(root)).encode()
    return text


def expectation(src: bytes, root: Path, busy_port: int) -> str:
    first = src.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8")
    assert first.startswith("# expect: "), "a corpus file starts with '# expect: <message substring>'"
    return first[len("# expect: ") :].replace("@ROOT@", str(root)).replace("@BUSY_PORT@", str(busy_port))


def absent(src: bytes) -> list[str]:
    """`# absent: <text>` lines: what must appear nowhere in the output (a secret)."""
    return [
        ln[len("# absent: ") :] for ln in src.decode("utf-8", "replace").splitlines() if ln.startswith("# absent: ")
    ]


def wizard(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "JEGW_CORPUS_UNSET"}
    env["JEGW_CORPUS_PW"] = "Corpus-Pass-1"
    return subprocess.run(
        [sys.executable, "-m", "jeg_wizard", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


@pytest.fixture
def in_process(monkeypatch, capsys):
    """`jeg-wizard ARGS` as cli.main in this process: (exit code, stdout, stderr) like wizard()."""
    from jeg_wizard import cli

    monkeypatch.delenv("JEGW_CORPUS_UNSET", raising=False)
    monkeypatch.setenv("JEGW_CORPUS_PW", "Corpus-Pass-1")

    def run(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        try:
            code = cli.main(list(args))
        except SystemExit as e:  # argparse's usage errors
            code = e.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


def assert_refused(r: subprocess.CompletedProcess, expect: str, before: dict, root: Path, defaults: list) -> None:
    assert r.returncode == 2, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert expect in r.stderr, f"expected {expect!r} in:\n{r.stderr}"
    assert "Traceback" not in r.stderr + r.stdout
    assert snapshot(root) == before, "something under the temp dir changed"
    assert [p.exists() for p in DEFAULT_PATHS] == defaults, "the default state/log dirs appeared"


def test_corpus_is_big_enough():
    assert len(FILES) >= 30
    classes = {p.stem.split("-", 1)[0] for p in FILES}
    assert {
        "injection",
        "harm",
        "fullmatch",
        "lax",
        "accounts",
        "machine",
        "secrets",
        "crash",
        "changes",
        "bom",
    } <= classes


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_malformed_answers_refused_before_any_change(path, sandbox, in_process):
    root, busy_port = sandbox
    if path.stem == "machine-systemd-not-running" and os.path.isdir("/run/systemd/system"):
        pytest.skip("systemd runs here: services.manager = 'systemd' is right on this machine")
    src = path.read_bytes()
    expect = expectation(src, root, busy_port)
    answers = root / path.name
    answers.write_bytes(materialize(src, root, busy_port))
    before, defaults = snapshot(root), [p.exists() for p in DEFAULT_PATHS]
    r = (wizard if path.stem.startswith("crash-") else in_process)("install", "--unattended", str(answers))
    assert_refused(r, expect, before, root, defaults)
    assert "nothing was changed" in r.stderr
    for secret in absent(src):
        assert secret not in r.stdout + r.stderr, f"{secret!r} shown"


# Malformed flags: (arguments, expected substring). VALID is a valid answers file in the temp dir.
FLAGS = [
    (["install", "--unattended", "VALID", "--only", "nonsense"], "--only: no step nonsense; steps: system, java"),
    (["install", "--unattended", "VALID", "--only"], "argument --only: expected one argument"),
    (["install", "--unattended"], "argument --unattended: expected one argument"),
    (["install", "--unattended", "VALID", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (
        ["install", "--unattended", "@ROOT@/missing.toml"],
        "@ROOT@/missing.toml: cannot read the answers file: No such file or directory",
    ),
    (["install", "--unattended", "@ROOT@/etc"], "@ROOT@/etc: cannot read the answers file: Is a directory"),
    (["--unattended", "@ROOT@/etc/environment"], "@ROOT@/etc/environment: not valid TOML"),
    (["services", "bogus"], "argument action: invalid choice: 'bogus'"),
    (["status", "--timeout", "soon"], "argument --timeout: invalid float value: 'soon'"),
    (["plan", "@ROOT@/missing.toml"], "cannot read the answers file"),
    (["answers", "--check", "@ROOT@/etc/environment"], "not valid TOML"),
    (["uninstall", "--answers", "@ROOT@/missing.toml"], "@ROOT@/missing.toml: cannot read the answers file"),
    (["uninstall", "--bogus"], "unrecognized arguments: --bogus"),
    (["nonsense-command"], "argument COMMAND: invalid choice: 'nonsense-command'"),
    # empty path means defaults: never
    (["install", "--unattended", ""], "--unattended: an empty path was given"),
    (["--unattended", ""], "--unattended: an empty path was given"),
    (["install", "--answers", ""], "--answers: an empty path was given"),
    (["plan", ""], "plan: an empty path was given"),
    (["answers", "--check", ""], "--check: an empty path was given"),
    (["uninstall", "--state-dir", ""], "--state-dir: an empty path was given"),
    (["install", "--unattended", "VALID", "--join", ""], "--join: an empty path was given"),
    # roles: a role the answers cannot have, a join file on a host that takes none
    (["install", "--unattended", "VALID", "--role", "bogus"], "--role: unknown role 'bogus'; allowed: all, gateway"),
    (["plan", "VALID", "--role", "hub"], "--role hub: the answers have no [site]"),
    (["install", "--unattended", "VALID", "--join", "@ROOT@/etc"], "--join: only the hub host takes a join file"),
    # crashes and hangs: a FIFO, a device, a name too long (SUBPROCESS: from here on)
    (["install", "--unattended", "@ROOT@/pw-fifo"], "@ROOT@/pw-fifo: cannot read the answers file: not a regular file"),
    (["plan", "@ROOT@/pw-fifo"], "@ROOT@/pw-fifo: cannot read the answers file: not a regular file"),
    (["install", "--unattended", "/dev/zero"], "/dev/zero: cannot read the answers file: not a regular file"),
    (["install", "--unattended", "@ROOT@/" + "n" * 300], "cannot read the answers file: File name too long"),
    (["answers", "--check", "@ROOT@/etc"], "@ROOT@/etc: cannot read the answers file: Is a directory"),
    (["uninstall", "--answers", "@ROOT@/pw-fifo"], "not a regular file"),
    (["plan", "TOKEN"], "gateway.token_file: @ROOT@/readable-token is readable by others"),
]
SUBPROCESS = next(i for i, (a, _) in enumerate(FLAGS) if a == ["install", "--unattended", "@ROOT@/pw-fifo"])


@pytest.mark.parametrize("args,expect", FLAGS, ids=[" ".join(a[:4]) for a, _ in FLAGS])
def test_malformed_flags_refused_before_any_change(args, expect, sandbox, in_process):
    root, busy_port = sandbox
    valid = root / "valid.toml"
    valid.write_bytes(materialize(b"", root, busy_port))
    token = root / "token.toml"  # valid, but its token file is readable by others: `plan` must not crash on it
    token.write_bytes(materialize(f'[gateway]\ntoken_file = "{root}/readable-token"\n'.encode(), root, busy_port))
    subprocess_case = args in [a for a, _ in FLAGS[SUBPROCESS:]]
    args = [a.replace("VALID", str(valid)).replace("TOKEN", str(token)).replace("@ROOT@", str(root)) for a in args]
    before, defaults = snapshot(root), [p.exists() for p in DEFAULT_PATHS]
    r = (wizard if subprocess_case else in_process)(*args)
    assert_refused(r, expect.replace("@ROOT@", str(root)), before, root, defaults)
