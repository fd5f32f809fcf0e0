import sys

import pytest

from jeg_wizard.redact import MASK, Redactor
from jeg_wizard.runner import CommandFailed, DryRunRunner, Runner, SecretOnCommandLine


def make(secret="s3cret-canary"):
    r = Redactor()
    r.add(secret)
    logged = []
    return Runner(r, logged.append), logged


def test_output_streamed_and_redacted():
    runner, logged = make()
    seen = []
    runner.subscribe(seen.append)
    res = runner.run([sys.executable, "-c", "print('a'); print('token=s3cret-' + 'canary')"])
    assert res.output == ["a", f"token={MASK}"]
    assert seen[-1] == f"token={MASK}" and logged[-1] == f"token={MASK}"
    assert not any("s3cret-canary" in line for line in logged)


def test_carriage_returns_split_lines():
    runner, _ = make()
    res = runner.run([sys.executable, "-c", "import sys; sys.stdout.write('10%\\r50%\\r100%\\ndone\\n')"])
    assert res.output == ["10%", "50%", "100%", "done"]


def test_secret_on_argv_refused():
    runner, logged = make()
    with pytest.raises(SecretOnCommandLine):
        runner.run(["echo", "s3cret-canary"])
    assert logged == []


def test_secret_via_stdin_is_fine():
    runner, logged = make()
    res = runner.run([sys.executable, "-c", "import sys; print(len(sys.stdin.read()))"], input="s3cret-canary")
    assert res.output == ["13"]


def test_failure_carries_tail():
    runner, _ = make()
    with pytest.raises(CommandFailed) as e:
        runner.run([sys.executable, "-c", "print('why it broke'); raise SystemExit(3)"])
    assert e.value.rc == 3 and "why it broke" in str(e.value)


def test_timeout_kills():
    runner, _ = make()
    with pytest.raises(CommandFailed):
        runner.run([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)


def test_dry_run_records_and_injects_failures():
    r = DryRunRunner(fail=lambda argv: argv[0] == "npm")
    r.run(["apt-get", "update"])
    with pytest.raises(CommandFailed):
        r.run(["npm", "install"])
    assert r.commands == [["apt-get", "update"], ["npm", "install"]]


def test_probe_missing_program():
    runner, _ = make()
    assert runner.probe(["/nonexistent/prog"]).rc == 127
