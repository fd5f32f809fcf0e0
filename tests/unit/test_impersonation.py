"""gateway.impersonation: the answers rule, what gets rendered, and the launcher's user checks."""

import json
import os
import pwd
import subprocess
import sys

import pytest

from jeg_wizard import checks, render
from jeg_wizard.checks import configs
from jeg_wizard.engine import make_context
from jeg_wizard.kernels import launch_as_user as launcher
from jeg_wizard.layout import Layout
from jeg_wizard.runner import DryRunRunner
from jeg_wizard.steps import gateway, kernelspecs

MASTERS = {
    "spark_python_local": "local[*]",
    "spark_python_standalone": "spark://127.0.0.1:7077",
    "spark_python_yarn": "yarn",
}


def rendered_kernel(a) -> dict:
    L = Layout(a)
    template = render.kernel_template_for(a.spark.master)
    return json.loads(render.render(f"{template}/kernel.json.j2", render.context(L), package="jeg_wizard.kernels"))


# ---------------------------------------------------------------- answers


def test_impersonation_runs_the_gateway_as_root(tmp_answers):
    a = tmp_answers(gateway={"impersonation": True})
    assert a.gateway.user == "root"
    assert tmp_answers(gateway={"impersonation": True, "user": "root"}).gateway.user == "root"
    assert tmp_answers().gateway.user == "jeg-gateway" and not tmp_answers().gateway.impersonation


def test_saved_answers_replay(tmp_answers):
    """The TUI saves model_dump(): impersonation with the effective user must load again."""
    from jeg_wizard.answers import parse

    from .conftest import DEBIAN12

    a = tmp_answers(gateway={"impersonation": True})
    assert parse(a.model_dump(), DEBIAN12) == a


# ---------------------------------------------------------------- rendering


@pytest.mark.parametrize("template,master", MASTERS.items())
def test_kernel_argv_without_impersonation(tmp_answers, template, master):
    a = tmp_answers(spark={"master": master})
    L = Layout(a)
    assert rendered_kernel(a)["argv"] == [
        str(L.kernel_venv / "bin" / "python"),
        "-m",
        "ipykernel_launcher",
        "-f",
        "{connection_file}",
    ]


@pytest.mark.parametrize("template,master", MASTERS.items())
def test_kernel_argv_with_impersonation(tmp_answers, template, master):
    a = tmp_answers(spark={"master": master}, gateway={"impersonation": True})
    L = Layout(a)
    argv = rendered_kernel(a)["argv"]
    assert argv == [
        str(L.kernel_venv / "bin" / "python"),
        "-s",
        str(L.kernel_dir / "launch_as_user.py"),
        "-f",
        "{connection_file}",
    ]


def test_gateway_config_enables_impersonation_for_the_hub_users_only(tmp_answers):
    a = tmp_answers(gateway={"impersonation": True, "unauthorized_users": []}, users={"allowed": ["carol"]})
    text = render.render("jupyter_enterprise_gateway_config.py.j2", render.context(Layout(a)))
    render.check_python(text, "gateway config")
    assert "c.EnterpriseGatewayApp.impersonation_enabled = True" in text
    assert 'c.EnterpriseGatewayApp.authorized_users = set(["carol", "jegwnobody"])' in text
    assert 'c.EnterpriseGatewayApp.unauthorized_users = set(["root"])' in text  # always refused
    assert "TRUST: the gateway believes whatever KERNEL_USERNAME" in text
    off = render.render("jupyter_enterprise_gateway_config.py.j2", render.context(Layout(tmp_answers())))
    assert "c.EnterpriseGatewayApp.impersonation_enabled = False" in off and "authorized_users" not in off.replace(
        "unauthorized_users", ""
    )


def test_hub_config_says_what_the_gateway_trusts(tmp_answers):
    on = render.render("jupyterhub_config.py.j2", render.context(Layout(tmp_answers(gateway={"impersonation": True}))))
    off = render.render("jupyterhub_config.py.j2", render.context(Layout(tmp_answers())))
    render.check_python(on, "hub config")
    assert "the kernel runs AS this user" in on and "the kernel runs AS this user" not in off


def test_gateway_step_runs_as_root_and_notes_the_trust(tmp_answers):
    on = make_context(tmp_answers(gateway={"impersonation": True}), DryRunRunner(probe_results={}), dry_run=True)
    spec = gateway.service_spec(on)
    assert spec.user == "root" and str(on.layout.gateway_config) in spec.config_files  # a switch restarts it
    titles = [x.title for x in gateway.build(on)]
    assert any("trusting KERNEL_USERNAME" in t for t in titles)
    off = make_context(tmp_answers(), DryRunRunner(probe_results={}), dry_run=True)
    assert gateway.service_spec(off).user == off.answers.gateway.user != "root"
    assert not any("KERNEL_USERNAME" in x.title for x in gateway.build(off))


def test_launcher_ships_root_owned_executable(tmp_answers):
    ctx = make_context(tmp_answers(), DryRunRunner(probe_results={}), dry_run=True)
    [ship] = [x for x in kernelspecs.kernel_file_actions(ctx) if x.path.name == "launch_as_user.py"]
    assert ship.mode == 0o755 and ship.owner is None  # None: root
    assert ship.path.parent == ctx.layout.kernel_dir
    render.check_python(ship.text(), "launcher")


def test_doctor_warns_about_the_trust(tmp_answers):
    a = tmp_answers(gateway={"impersonation": True})
    cfg = render.render("jupyter_enterprise_gateway_config.py.j2", render.context(Layout(a)))
    site = checks.Install(Layout(a))
    f = checks.gateway.impersonation(site, configs.Config(cfg))
    assert f.status == checks.PROBLEM and f.warning and f.level == "warn"
    assert "every user server holds it" in f.detail and "jegwnobody" in f.detail
    off = configs.Config(cfg.replace("impersonation_enabled = True", "impersonation_enabled = False"))
    assert checks.gateway.impersonation(site, off).level == "fail"


# ---------------------------------------------------------------- the launcher's checks


def regular(name="alice", uid=1001, gid=1001, home="/home/alice"):
    return pwd.struct_passwd((name, "x", uid, gid, "", home, "/bin/bash"))


def test_uid_range_from_login_defs():
    assert launcher.uid_range(None) == (1000, 60000)
    assert launcher.uid_range("# UID_MIN 5\nUID_MIN\t\t\t 2000\nUID_MAX 50000\nSYS_UID_MIN 101\n") == (2000, 50000)
    assert launcher.uid_range("UID_MIN lots\n") == (1000, 60000)


def test_launcher_accepts_a_regular_user():
    assert launcher.check_user("alice", lambda n: regular()).pw_uid == 1001


@pytest.mark.parametrize(
    "name,lookup,why",
    [
        (None, pwd.getpwnam, "KERNEL_USERNAME is not set"),
        ("", pwd.getpwnam, "KERNEL_USERNAME is not set"),
        ("root", pwd.getpwnam, "is root or in group root"),
        ("daemon", pwd.getpwnam, "(uid 1) is a system account"),
        ("nobody", pwd.getpwnam, "(uid 65534) is a system account"),
        ("jegw-no-such-user", pwd.getpwnam, "does not exist on this host"),
        ("../etc", pwd.getpwnam, "is not a valid user name"),
        ("Alice", pwd.getpwnam, "is not a valid user name"),
        ("a;id", pwd.getpwnam, "is not a valid user name"),
        ("toor", lambda n: regular("toor", uid=0), "is root or in group root"),
        ("wheel", lambda n: regular("wheel", gid=0), "is root or in group root"),
        ("svc", lambda n: regular("svc", uid=999), "(uid 999) is a system account"),
    ],
)
def test_launcher_refuses(name, lookup, why):
    with pytest.raises(launcher.Refused, match=".*" + why.replace("(", r"\(").replace(")", r"\)")):
        launcher.check_user(name, lookup)


def test_launcher_refuses_a_connection_file_others_could_write(tmp_path):
    f = tmp_path / "kernel.json"
    f.write_text('{"key": "k"}')
    os.chmod(f, 0o644)
    with pytest.raises(launcher.Refused, match="readable by root only"):
        launcher.read_connection_file(str(f))
    link = tmp_path / "link.json"
    os.chmod(f, 0o600)
    link.symlink_to(f)
    with pytest.raises(launcher.Refused, match="cannot open"):
        launcher.read_connection_file(str(link))
    if os.geteuid() == 0:
        assert launcher.read_connection_file(str(f)) == b'{"key": "k"}'


def test_launcher_script_refuses_root_and_says_so(tmp_path):
    """The real script, as the gateway runs it: exit 1 and a clear line on stderr, no kernel."""
    conn = tmp_path / "kernel.json"
    conn.write_text('{"key": "secret-key"}')
    os.chmod(conn, 0o600)
    for user, why in (("root", "is root"), ("daemon", "system account")):
        why = why if os.geteuid() == 0 else "must be started as root"
        r = subprocess.run(
            [sys.executable, "-s", launcher.__file__, "-f", str(conn)],
            capture_output=True,
            text=True,
            env={"KERNEL_USERNAME": user, "PATH": "/usr/bin:/bin"},
            timeout=60,
        )
        assert r.returncode == 1 and why in r.stderr and "secret-key" not in r.stderr + r.stdout, r.stderr


@pytest.mark.parametrize("template,master", MASTERS.items())
def test_each_kernel_gets_the_answers_resources(tmp_answers, template, master):
    a = tmp_answers(
        spark={"master": master, "driver_memory": "3g", "executor_memory": "5g", "executor_cores": 2, "cores_max": 4}
    )
    args = rendered_kernel(a)["env"]["PYSPARK_SUBMIT_ARGS"].split()
    assert args[:2] == ["--master", master] and args[-1] == "pyspark-shell"
    assert args[args.index("--driver-memory") + 1] == "3g"
    if master == "local[*]":  # one JVM: executors' sizes mean nothing there
        assert "--executor-memory" not in args and not any("executor.cores" in x for x in args)
    else:
        assert args[args.index("--executor-memory") + 1] == "5g"
        cores = "spark.executor.cores=2" in args or args[args.index("--executor-cores") + 1] == "2"
        assert cores, args
    if master.startswith("spark://"):
        assert "spark.cores.max=4" in args
