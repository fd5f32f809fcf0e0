"""The form's round trip without a screen: values -> answers.parse -> problems on their fields,
and the replayable answers file."""

import tomllib

from jeg_wizard.answers import Answers, parse
from jeg_wizard.tui import answers_file, form

from .states import DEBIAN12


def values(**over):
    v = form.initial_values(Answers())
    v.update({k.replace("__", "."): val for k, val in over.items()})
    return v


def test_defaults_are_valid_when_the_admin_exists():
    answers, problems = form.validate(values(), dist=DEBIAN12, admin_exists=True)
    assert problems == [] and answers == Answers()


def test_each_problem_lands_on_its_field_or_section():
    v = values(
        gateway__port="80a",
        spark__master="spark://h:1",
        hub__hub_ip="0.0.0.0",
        users__admin_password_env="PW",
        users__admin_password_file="/root/pw",
    )
    answers, problems = form.validate(v, dist=DEBIAN12, admin_exists=True)
    assert answers is None
    by_field, by_section, rest = form.route(problems)
    assert "input should be a valid integer, got '80a'" in by_field["gateway.port"][0]  # strict: typed digits only
    assert "concrete address" in by_field["hub.hub_ip"][0]
    assert "at most one of admin_password_env, admin_password_file" in by_section["users"][0]
    assert rest == []


def test_cross_section_port_clash_names_the_field():
    _, problems = form.validate(values(proxy__api_port="8888"), dist=DEBIAN12, admin_exists=True)
    by_field, _, _ = form.route(problems)
    assert "port 8888 is already used by gateway.port" in by_field["proxy.api_port"][0]


def test_a_missing_admin_needs_a_password():
    _, problems = form.validate(values(), dist=DEBIAN12, admin_exists=False)
    assert problems == [
        "users.admin_password: hubadmin does not exist here yet: give a password so the admin can log in"
    ]
    _, problems = form.validate(
        values(users__admin_password_hash="$6$saltsalt$" + "a" * 86), dist=DEBIAN12, admin_exists=False
    )  # a hash of the right shape
    assert problems == []


def test_saved_answers_replay_and_hold_no_secret():
    a = parse({"gateway": {"port": 9999}, "kernels": {"spark_opts": "--driver-memory 2g"}}, DEBIAN12)
    text = answers_file.render(a, password_typed=False)
    assert parse(tomllib.loads(text), DEBIAN12) == a
    assert 'admin_password_env = ""' in text and "A replay on this machine keeps the existing one" in text
    typed = answers_file.render(a, password_typed=True)
    replay = parse(tomllib.loads(typed), DEBIAN12)
    # no variable named that the operator never set: the replay command works as printed
    assert replay == a and not replay.users.admin_password_env
    assert "typed in the wizard is NOT saved" in typed and "users.admin_password_file" in typed
