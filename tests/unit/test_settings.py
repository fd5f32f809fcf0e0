"""`jeg-wizard set`: the assignments typed and checked before anything, and the rollback's file part
(files put back byte for byte from the journal's backups). The real change, restarts and a rollback
after a failed health check: tests/e2e/test_set.py."""

import os
import shutil
import subprocess
import sys

import pytest
import tomli_w

from jeg_wizard import settings
from jeg_wizard.actions import FileContent
from jeg_wizard.answers import AnswersError, load_data
from jeg_wizard.engine import make_context


def test_values_take_the_type_of_their_key():
    data, keys = settings.assign(
        {"hub": {"port": 8000}},
        [
            "hub.default_url=/tree",
            "gateway.port=8890",
            "spark.hadoop=3",
            "users.allowed=alice, bob",
            'gateway.unauthorized_users=["root", "carol"]',
            "gateway.list_kernels=false",
            "gateway.request_timeout=300",
        ],
    )
    assert data["hub"] == {"port": 8000, "default_url": "/tree"}
    assert data["gateway"] == {
        "port": 8890,
        "unauthorized_users": ["root", "carol"],
        "list_kernels": False,
        "request_timeout": 300,
    }
    assert data["spark"] == {"hadoop": "3"}  # text stays text, even when it looks like a number
    assert data["users"] == {"allowed": ["alice", "bob"]}
    assert keys[0] == "hub.default_url"


def test_refused_and_malformed_pairs_name_the_key_and_never_echo_the_value():
    secret = "$6$salt$Sup3rSecretHashValue"
    with pytest.raises(AnswersError) as e:
        settings.assign(
            {},
            [f"users.admin_password_hash={secret}", "system.prefix=/srv", "site.hub_host=h", "port=1", "hub.port"],
        )
    text = "\n".join(e.value.problems)
    assert secret not in text
    assert "users.admin_password_hash: not changed by `set`: `set` takes no secret" in text
    assert "system.prefix: not changed by `set`: moves the install" in text
    assert "site.hub_host: not changed by `set`: the hosts' roles" in text
    assert "port: expected SECTION.KEY=VALUE" in text and "hub.port: expected SECTION.KEY=VALUE" in text


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "jeg_wizard", *args], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )


@pytest.fixture
def saved(tmp_path):
    """An answers file and the install's saved copy of it (no install: `set` must stop before looking)."""
    state = tmp_path / "state"
    state.mkdir()
    data = {
        "system": {"state_dir": str(state), "log_dir": str(tmp_path / "log")},
        "hub": {"config_dir": str(tmp_path / "etc")},
    }
    (state / "answers.toml").write_text(tomli_w.dumps(data))
    shutil.copy(state / "answers.toml", tmp_path / "answers.toml")
    return tmp_path


def snapshot(root):
    return {p: p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    "pair, said",
    [
        ("gateway.port=99999", "gateway.port: must be an integer between 1 and 65535, got 99999"),
        ("hub.default_url=/nowhere", "hub.default_url: must be one of '/lab' or '/tree', got '/nowhere'"),
        ("hub.defalt_url=/tree", "hub.defalt_url: unknown key; did you mean 'hub.default_url'?"),
        ("gateway.token=abcdef0123456789", "gateway.token: secrets are not kept in the answers file in clear"),
        ("hub.port=8081", "hub.hub_port: port 8081 is already used by hub.port"),
        ("system.state_dir=/srv/x", "system.state_dir: not changed by `set`: moves the install"),
    ],
)
def test_bad_input_exits_2_naming_the_key_and_nothing_changes(saved, pair, said):
    before = snapshot(saved)
    r = run("set", pair, "--answers", str(saved / "answers.toml"))
    assert r.returncode == 2, r.stdout + r.stderr
    assert said in r.stderr and "nothing was changed" in r.stderr and "Traceback" not in r.stderr
    assert "abcdef0123456789" not in r.stdout + r.stderr
    assert snapshot(saved) == before


def test_nothing_to_set_is_a_usage_error(saved):
    r = run("set")
    assert r.returncode == 2 and "give settings as KEY=VALUE" in r.stderr


def test_rollback_puts_files_back_byte_for_byte(tmp_answers, tmp_path):
    """What a failed set wrote (a file replaced, one created, in a new directory) is undone from the journal."""
    a = tmp_answers(services={"start": False}, system={"replace_existing_files": True})
    ctx = make_context(a)
    ctx.journal.ensure()
    old = tmp_path / "etc" / "kept.py"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_bytes(b"# the operator's bytes\r\nx = 1   \n")
    os.chmod(old, 0o640)
    FileContent(old, "x = 2\n").apply(make_context(a))  # an earlier run's write: before the mark
    before = old.read_bytes()
    mark = len(ctx.journal.entries())
    created = tmp_path / "etc" / "new" / "made.py"
    for action in (FileContent(old, "x = 3\n"), FileContent(created, "y = 1\n")):
        action.apply(ctx)
    assert old.read_bytes() == b"x = 3\n" and created.exists()
    change = settings.Change(make_context(a, ctx.runner), ctx, [], [], [])
    done, problems = settings.rollback(change, mark)
    assert problems == []
    assert old.read_bytes() == before and (old.stat().st_mode & 0o777) == 0o644
    assert not created.exists() and not created.parent.exists()
    assert done == ["2 files put back"]


def test_saved_answers_keep_an_edited_file_as_it_is(tmp_answers, tmp_path):
    a = tmp_answers()
    ctx = make_context(a)
    text = b"# my comment\n[hub]\ndefault_url = '/tree'\n"
    settings.save_answers(ctx.layout, {"hub": {"default_url": "/tree"}}, text)
    assert ctx.layout.saved_answers.read_bytes() == text
    settings.save_answers(ctx.layout, {"hub": {"default_url": "/lab"}})
    assert load_data(ctx.layout.saved_answers)[0] == {"hub": {"default_url": "/lab"}}


@pytest.mark.parametrize("still_sick", [False, True])
def test_a_failed_health_check_puts_back_what_the_steps_wrote(tmp_answers, tmp_path, monkeypatch, still_sick):
    """The steps succeed, the health check after them fails: the message names it, the file is back
    (and when the old settings are not healthy either, it says so rather than claim all is well)."""
    from jeg_wizard.engine import Step
    from jeg_wizard.health import HealthError

    a = tmp_answers(services={"start": False}, system={"replace_existing_files": True})
    target = tmp_path / "etc" / "demo.py"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"x = 1\n")
    ctx = make_context(a)
    ctx.journal.ensure()
    step = Step("demo", "demo", "", lambda ctx: [FileContent(target, "x = 2\n")])
    change = settings.Change(make_context(a, ctx.runner), ctx, [step], [], [], keys=["hub.default_url"])
    calls = []

    def health(ctx, verify):
        calls.append(target.read_bytes())
        if len(calls) == 1 or still_sick:
            raise HealthError("hub API answers: HTTP 502 from the proxy")

    monkeypatch.setattr(settings, "health", health)
    outcome = settings.apply(change)
    assert not outcome.ok and outcome.put_back is not still_sick
    assert "hub API answers: HTTP 502 from the proxy" in outcome.message
    if still_sick:
        assert "(1 file put back); NOT healthy again: hub API answers: HTTP 502" in outcome.message
    else:
        assert "(1 file put back); healthy again" in outcome.message
    assert calls == [b"x = 2\n", b"x = 1\n"]  # checked after the change, and again after the rollback
    assert target.read_bytes() == b"x = 1\n"


def test_the_forms_values_are_assigned_like_the_command_lines_pairs():
    """The TUI's form gives typed values: the same refusals (with why), the data copied, not changed."""
    data = {"hub": {"port": 8000}}
    out, keys = settings.assign_values(data, {"hub.default_url": "/tree", "gateway.port": 8890})
    assert out == {"hub": {"port": 8000, "default_url": "/tree"}, "gateway": {"port": 8890}} and keys == [
        "hub.default_url",
        "gateway.port",
    ]
    assert data == {"hub": {"port": 8000}}
    with pytest.raises(AnswersError) as e:
        settings.assign_values(data, {"hub.venv": "/srv/venv", "services.manager": "systemd", "hub.port": 1})
    assert e.value.problems == [
        f"hub.venv: not changed by `set`: {settings.REFUSED['hub.venv']}",
        f"services.manager: not changed by `set`: {settings.REFUSED['services.manager']}",
    ]
