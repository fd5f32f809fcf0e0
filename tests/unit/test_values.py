"""The value vocabulary, the Directory action's promise, the loader on odd files, the machine checks and
the rendered configs' shape."""

from __future__ import annotations

import os
import stat

import pytest

from jeg_wizard import machine, render
from jeg_wizard.actions import Directory
from jeg_wizard.answers import Answers, AnswersError, load, parse, section_model
from jeg_wizard.engine import make_context
from jeg_wizard.layout import Layout
from jeg_wizard.values import mask_url, show, system_place

from .conftest import DEBIAN12


def problems(data):
    with pytest.raises(AnswersError) as e:
        parse(data, DEBIAN12)
    return e.value.problems


@pytest.mark.parametrize(
    "path,normal", [("//srv//x/./y/", "/srv/x/y"), ("/srv/x", "/srv/x"), ("/srv/jeg/", "/srv/jeg")]
)
def test_paths_normalised(path, normal):
    assert parse({"system": {"state_dir": path}}, DEBIAN12).system.state_dir == normal


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/etc",
        "/etc/",
        "//usr",
        "/usr/local",
        "/var",
        "/var/lib",
        "/home",
        "/home/bob",
        "/root",
        "/opt",
        "/tmp",
        "/dev/shm",
        "/proc/1",
        "/sys/x",
        "/run/x",
        "/boot/efi",
        "/srv",
        "/lib64",
        "/usr/lib/jvm",
        "/etc/systemd/system",
    ],
)
def test_system_places_never_ours(path):
    found = problems({"hub": {"config_dir": path}})
    assert any(p.startswith("hub.config_dir: must be a directory of our own") for p in found), found


def test_our_defaults_are_not_system_places():
    a = Answers()
    for d in (a.system.state_dir, a.system.log_dir, a.hub.config_dir, a.kernels.dir):
        assert system_place(d) is None


@pytest.mark.parametrize("value,ok", [(8888, True), (True, False), ("8888", False), (8888.0, False), (0, False)])
def test_ports_strict(value, ok):
    if ok:
        assert parse({"gateway": {"port": value}}, DEBIAN12).gateway.port == value
    else:
        assert problems({"gateway": {"port": value}})[0].startswith("gateway.port: ")


def test_request_timeout_takes_an_integer_but_not_a_bool():
    assert parse({"gateway": {"request_timeout": 300}}, DEBIAN12).gateway.request_timeout == 300.0
    assert problems({"gateway": {"request_timeout": True}})[0].startswith(
        "gateway.request_timeout: input should be a valid number"
    )


def test_credentials_in_urls_masked_and_long_values_shortened():
    assert mask_url("see https://alice:pw@h/x and http://u@h") == "see https://***@h/x and http://***@h"
    assert len(show("x" * 10000)) < 80 and "10002 characters" in show("x" * 10000)
    msg = problems({"spark": {"source": "url", "url": "https://alice:s3cret-pw@h/a b"}})
    assert "s3cret-pw" not in "".join(msg) and "***@h" in "".join(msg)


def test_crypt_hash_shapes():
    ok = [
        "$6$saltsalt$" + "a" * 86,
        "$5$rounds=5000$salt$" + "b" * 43,
        "$y$j9T$" + "c" * 22 + "$" + "d" * 43,
        "$2b$12$" + "e" * 53,
    ]
    for h in ok:
        assert parse({"users": {"admin_password_hash": h}}, DEBIAN12).users.admin_password_hash == h
    for h in ["$6$salt$short", "$6$saltsalt$" + "a" * 86 + "\n", "$6$saltsalt$" + "a" * 86 + ":x", "$9$a$b", "plain"]:
        assert problems({"users": {"admin_password_hash": h}})[0].startswith("users.admin_password_hash: ")


def test_every_user_list_refuses_root_and_the_gateway_user():
    assert any("users.allowed: must not contain root" in p for p in problems({"users": {"allowed": ["root"]}}))
    assert any("gateway's own user" in p for p in problems({"users": {"allowed": ["jeg-gateway"]}}))
    assert any("users.admin: must not be root" in p for p in problems({"users": {"admin": "root"}}))


def test_port_range_must_not_cover_our_ports():
    assert any(
        p.startswith("gateway.port_range: 8000..9000 covers gateway.port (8888)")
        for p in problems({"gateway": {"port_range": "8000..9000"}})
    )


# ---------------------------------------------------------------- the Directory action


def test_directory_never_changes_the_mode_of_a_directory_it_did_not_create(tmp_answers, tmp_path):
    a = tmp_answers()
    ctx = make_context(a, log_to_file=False)
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o750)
    os.chmod(theirs, 0o750)
    d = Directory(theirs, 0o711)
    assert d.done(ctx)  # not ours: nothing to change
    d.apply(ctx)
    assert stat.S_IMODE(theirs.stat().st_mode) == 0o750
    ours = tmp_path / "ours" / "deep"
    Directory(ours, 0o711).apply(ctx)
    assert stat.S_IMODE(ours.stat().st_mode) == 0o711
    os.chmod(ours, 0o755)  # drifted: ours, so set again
    assert not Directory(ours, 0o711).done(ctx)
    Directory(ours, 0o711).apply(ctx)
    assert stat.S_IMODE(ours.stat().st_mode) == 0o711


# ---------------------------------------------------------------- the loader


def test_bom_accepted(tmp_path):
    p = tmp_path / "a.toml"
    p.write_bytes(b"\xef\xbb\xbf[gateway]\nport = 9999\n")
    assert load(p, DEBIAN12).gateway.port == 9999


@pytest.mark.parametrize("kind", ["fifo", "dir", "empty-name", "too-long", "deep", "huge"])
def test_odd_answers_files_refused_without_blocking(tmp_path, kind):
    p = tmp_path / "a.toml"
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "dir":
        p.mkdir()
    elif kind == "empty-name":
        p = ""
    elif kind == "too-long":
        p = tmp_path / ("n" * 300)
    elif kind == "deep":
        p.write_text("x = " + "[" * 3000 + "]" * 3000 + "\n")
    elif kind == "huge":
        with open(p, "wb") as f:
            f.truncate((1 << 20) + 1)
    with pytest.raises(AnswersError) as e:
        load(p, DEBIAN12)
    assert len(e.value.problems) == 1


# ---------------------------------------------------------------- machine checks


def test_machine_checks(tmp_answers, tmp_path):
    link = tmp_path / "link"
    link.symlink_to("/etc")
    a = tmp_answers(
        system={"state_dir": str(link), "python": str(tmp_path / "nope")},
        gateway={"ip": "192.0.2.7"},
        users={"allowed": ["daemon"]},
    )
    found = machine.problems(a)
    assert any(p.startswith("system.state_dir: ") and "symlink to /etc" in p for p in found), found
    assert any(p.startswith("system.python: ") for p in found), found
    assert any(p.startswith("gateway.ip: 192.0.2.7 is not an address of this machine") for p in found), found
    assert any(p.startswith("users.allowed: 'daemon' is a system account") for p in found), found
    assert machine.problems(tmp_answers()) == []


def test_a_file_where_the_install_makes_a_directory_or_the_spark_link_is_refused_first(tmp_answers, tmp_path):
    """Found by the gate, naming the answer, not by the step that would hit it half-way through the install."""
    (tmp_path / "afile").write_text("x")
    (tmp_path / "spark").write_text("someone's")
    jdk = tmp_path / "jdk"
    (jdk / "bin").mkdir(parents=True)
    a = tmp_answers(
        kernels={"dir": str(tmp_path / "afile" / "kernels")},
        spark={"home": str(tmp_path / "spark")},
        java={"home": str(jdk)},
    )
    found = machine.problems(a)
    assert found[0].startswith(f"kernels.dir: {tmp_path}/afile exists and is not a directory (it is on the way to ")
    assert not any(p.startswith("kernels.name:") for p in found), "one line per file in the way"
    assert any(p.startswith(f"spark.home: {tmp_path}/spark exists and is not a symlink") for p in found), found
    assert any(p.startswith(f"java.home: no java to run at {jdk}/bin/java") for p in found), found
    assert machine.problems(a, role="hub") == found[:1], "the hub host installs neither Java nor Spark"
    (tmp_path / "spark").unlink()
    (tmp_path / "spark").symlink_to(tmp_path)  # an earlier Spark's link is repointed (and put back on uninstall)
    (jdk / "bin" / "java").write_text("#!/bin/sh\n")
    (jdk / "bin" / "java").chmod(0o755)
    assert machine.problems(tmp_answers(spark={"home": str(tmp_path / "spark")}, java={"home": str(jdk)})) == []


def test_uid_range_from_login_defs(tmp_path):
    defs = tmp_path / "login.defs"
    defs.write_text("# x\nUID_MIN\t\t 500\nUID_MAX 1999\n")
    assert machine.uid_range(str(defs)) == (500, 1999)
    assert machine.uid_range(str(tmp_path / "none")) == (1000, 60000)


# ---------------------------------------------------------------- rendering


def test_python_literals_round_trip():
    import ast

    for v in ["a\"b\\c'", "x\u2028y\nz\x00", "ü😀", "", 0, -1, 1.5, True, None, ["a", 1], {"k": "v"}]:
        assert ast.literal_eval(render.py_literal(v)) == v
    with pytest.raises(render.RenderError):
        render.py_literal(object())


def test_structural_check_refuses_an_added_statement():
    ctx = render.context(Layout(Answers()))
    text = render.render("jupyterhub_config.py.j2", ctx)
    render.check_shape(text, "jupyterhub_config.py.j2", ctx)
    with pytest.raises(render.RenderError):
        render.check_shape(text + "import os\n", "jupyterhub_config.py.j2", ctx)
    with pytest.raises(render.RenderError):
        render.check_shape(
            text.replace("c.Spawner.http_timeout = 60", "c.Spawner.http_timeout = __import__('os')"),
            "jupyterhub_config.py.j2",
            ctx,
        )


def test_ipv6_addresses_bracketed_in_urls(tmp_answers):
    a = tmp_answers(proxy={"api_ip": "::1"}, gateway={"ip": "::1"})
    text = render.render("jupyterhub_config.py.j2", render.context(Layout(a)))
    assert 'c.ConfigurableHTTPProxy.api_url = "http://[::1]:8001"' in text
    assert '"JUPYTER_GATEWAY_URL": "http://[::1]:8888"' in text


def test_every_key_described_once_in_the_model():
    for section in Answers.model_fields:
        for key, f in section_model(section).model_fields.items():
            assert f.description, f"{section}.{key} has no description"


def test_example_answers_name_every_key():
    import re

    from jeg_wizard.cli import example_answers

    text = example_answers()
    missing = [
        f"{s}.{k}"
        for s in Answers.model_fields
        for k in section_model(s).model_fields
        if not re.search(rf"^#?\s*{k}\s*=", text, re.M)
    ]
    assert missing == []


def test_the_parts_still_to_install_must_fit_on_their_disks(tmp_answers, tmp_path, monkeypatch):
    """Summed per file system, named by the answers that choose the places; parts already there count nothing."""
    monkeypatch.setattr(machine, "SPACE_MIB", dict.fromkeys(machine.SPACE_MIB, 2**40))  # more than any disk
    a = tmp_answers()
    found = machine.space_problems(a)
    assert len([p for p in found if "the install needs about" in p]) >= 1, found
    everything = next(p for p in found if p.startswith("system.prefix: "))
    for key in ("hub.venv", "gateway.venv", "kernels.venv", "proxy.prefix"):
        assert key in everything, everything
    assert machine.space_problems(a, role="worker") and "hub.venv" not in " ".join(machine.space_problems(a, "worker"))
    L = Layout(a)
    for venv in (L.hub_venv, L.gateway_venv, L.kernel_venv):
        (venv / "bin").mkdir(parents=True)
        (venv / "bin" / "python").touch()
    (L.spark_dir / "pyspark" / "bin").mkdir(parents=True)
    (L.proxy_prefix / "node_modules").mkdir(parents=True)
    L.kernel_jvm_archive.parent.mkdir(parents=True)
    L.kernel_jvm_archive.touch()
    assert machine.space_problems(a) == []  # installed: a re-run needs no room
