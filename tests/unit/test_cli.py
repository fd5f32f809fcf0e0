"""Bad input stops before anything changes, naming the field."""

import os
import subprocess
import sys

import pytest


def run(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "jeg_wizard", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )


def test_broken_answers_exit_2_naming_the_field_and_nothing_changes(tmp_path):
    state = tmp_path / "state"
    p = tmp_path / "a.toml"
    p.write_text(f'[system]\nstate_dir = "{state}"\nlog_dir = "{tmp_path}/log"\n[gateway]\nport = 99999\nprot = 1\n')
    r = run("install", "--unattended", str(p))
    assert r.returncode == 2
    assert "gateway.port: must be an integer between 1 and 65535, got 99999" in r.stderr
    assert "gateway.prot: unknown key; did you mean 'gateway.port'?" in r.stderr
    assert "nothing was changed" in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == [p]


def test_missing_password_env_is_caught_before_changes(tmp_path):
    p = tmp_path / "a.toml"
    p.write_text(
        f'[system]\nstate_dir = "{tmp_path}/state"\nlog_dir = "{tmp_path}/log"\n'
        f'[users]\nadmin_password_env = "JEGW_UNSET_VAR"\n'
    )
    r = run("--unattended", str(p), env={"JEGW_UNSET_VAR": ""})
    assert r.returncode == 2
    assert "users.admin_password_env: environment variable JEGW_UNSET_VAR is not set or empty" in r.stderr
    assert list(tmp_path.iterdir()) == [p]


def test_a_new_admin_without_any_password_is_refused_naming_the_keys(tmp_path):
    p = tmp_path / "a.toml"  # what the wizard saves: no password source, for an admin this machine lacks
    p.write_text(
        f'[system]\nstate_dir = "{tmp_path}/state"\nlog_dir = "{tmp_path}/log"\n[users]\nadmin = "jegwnosuch"\n'
    )
    r = run("install", "--unattended", str(p))
    assert r.returncode == 2 and "nothing was changed" in r.stderr
    assert (
        "users.admin_password_file, users.admin_password_env or users.admin_password_hash: "
        "the hub admin 'jegwnosuch' does not exist on this machine yet" in r.stderr
    )
    assert list(tmp_path.iterdir()) == [p]


def test_readable_password_file_refused_with_the_chmod(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("secret-password")
    pw.chmod(0o644)
    p = tmp_path / "a.toml"
    p.write_text(f'[system]\nstate_dir = "{tmp_path}/state"\n[users]\nadmin_password_file = "{pw}"\n')
    r = run("install", "--unattended", str(p))
    assert r.returncode == 2 and f"run: chmod 600 {pw}" in r.stderr
    assert "secret-password" not in r.stderr + r.stdout


def test_unknown_only_step(tmp_path):
    empty = tmp_path / "empty.toml"  # /dev/null no longer: a device is refused as an answers file
    empty.write_text("")
    r = run("install", "--unattended", str(empty), "--only", "nonsense")
    assert r.returncode == 2 and "--only: no step nonsense" in r.stderr


def test_example_and_version():
    assert run("--version").stdout.startswith("jeg-wizard ")
    ex = run("answers", "--example")
    assert ex.returncode == 0 and "[gateway]" in ex.stdout


def test_check_answers(tmp_path):
    p = tmp_path / "a.toml"
    p.write_text('[hub]\nip = "nonsense"\n')
    r = run("answers", "--check", str(p))
    assert r.returncode == 2 and "hub.ip: must be an IP address" in r.stderr


def test_a_build_without_the_tui_is_an_error_naming_the_fix(monkeypatch, capsys):
    """No silent terminal install in place of the wizard's screens (that asked for a password)."""
    from jeg_wizard import cli

    monkeypatch.setitem(sys.modules, "jeg_wizard.tui.app", None)  # what a wheel without jeg_wizard.tui gives
    monkeypatch.setattr(cli, "cmd_install", lambda *a, **kw: pytest.fail("fell back to a terminal install"))
    assert cli.main([]) == cli.EXIT_FAIL
    err = capsys.readouterr().err
    assert "the wizard's screens cannot be loaded" in err and "reinstall jeg-wizard" in err


def test_status_without_the_tui_is_an_error_naming_the_fix(monkeypatch, capsys, tmp_path):
    """`status` does not quietly print the doctor's text in place of its screen."""
    from jeg_wizard import cli, doctor

    answers = tmp_path / "answers.toml"
    answers.write_text("")
    monkeypatch.setitem(sys.modules, "jeg_wizard.tui.status", None)
    monkeypatch.setattr(doctor, "main", lambda *a, **kw: pytest.fail("fell back to the doctor's text"))
    assert cli.main(["status", "--answers", str(answers)]) == cli.EXIT_FAIL
    err = capsys.readouterr().err
    assert "the wizard's screens cannot be loaded" in err and "jeg-wizard doctor" in err
