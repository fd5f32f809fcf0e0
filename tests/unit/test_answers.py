"""Every validation rule, with the message the operator reads."""

import os

import pytest

from jeg_wizard import distro
from jeg_wizard.answers import Answers, AnswersError, load, parse
from jeg_wizard.cli import example_answers

DEBIAN12 = distro.Distro("debian", "12", "Debian GNU/Linux 12 (bookworm)")
UBUNTU22 = distro.Distro("ubuntu", "22.04", "Ubuntu 22.04 LTS")


def problems(data, dist=DEBIAN12):
    with pytest.raises(AnswersError) as e:
        parse(data, dist)
    return e.value.problems


CASES = [
    # (answers, expected substring of the single message)
    ({"gateway": {"port": 70000}}, "gateway.port: must be an integer between 1 and 65535, got 70000"),
    ({"gateway": {"port": 0}}, "gateway.port: must be an integer between 1 and 65535, got 0"),
    ({"gateway": {"port": "eighty"}}, "gateway.port: input should be a valid integer"),
    ({"gateway": {"prot": 8888}}, "gateway.prot: unknown key; did you mean 'gateway.port'?"),
    ({"gatway": {"port": 8888}}, "gatway: unknown key; did you mean 'gateway'?"),
    ({"gateway": {"ip": "300.1.1.1"}}, "gateway.ip: must be an IP address"),
    ({"hub": {"hub_ip": "0.0.0.0"}}, "hub.hub_ip: must be a concrete address clients can reach"),
    ({"gateway": {"token": "abc"}}, "gateway.token: secrets are not kept in the answers file in clear"),
    ({"users": {"admin_password": "pw"}}, "users.admin_password: secrets are not kept in the answers file in clear"),
    ({"users": {"admin": "Hub Admin"}}, "users.admin: must be a unix user name"),
    ({"users": {"admin": "root"}}, "users.admin: must not be root"),
    (
        {"users": {"allowed": ["ok", "9bad"]}},
        "users.allowed: must be a unix user name (lower-case letter or _, then up to 31 of a-z 0-9 _ -), got '9bad'",
    ),
    ({"users": {"admin_password_hash": "plain"}}, "users.admin_password_hash: must be a crypt(3) hash"),
    ({"users": {"admin_password_env": "A", "admin_password_file": "/x"}}, "users: set at most one of"),
    ({"users": {"admin_password_env": "1BAD"}}, "users.admin_password_env: must be an environment variable name"),
    ({"system": {"prefix": "opt"}}, "system.prefix: must be an absolute path"),
    ({"hub": {"config_dir": "etc/jupyter"}}, "hub.config_dir: must be an absolute path"),
    ({"spark": {"source": "ftp"}}, "spark.source: must be one of 'pypi', 'apache', 'url' or 'tarball', got 'ftp'"),
    ({"spark": {"source": "url"}}, "spark.url: is required when spark.source = 'url'"),
    (
        {"spark": {"source": "url", "url": "ftp://x/spark.tgz"}},
        "spark.url: must be an http://, https:// or file:// URL",
    ),
    (
        {"spark": {"source": "tarball", "tarball": "/nonexistent/spark.tgz"}},
        "spark.tarball: no such file /nonexistent/spark.tgz",
    ),
    ({"spark": {"sha512": "abc"}}, "spark.sha512: must be 128 hexadecimal characters"),
    ({"spark": {"version": "4.3"}}, "spark.version: must be a Spark release like 3.5.3 or 4.3.0"),
    ({"spark": {"master": "mesos://x:5050"}}, "spark.master: must be local[*], local[N], spark://HOST:PORT or yarn"),
    ({"spark": {"hadoop": "4"}}, "spark.hadoop: must be one of 2.7, 3, 3.2"),
    ({"java": {"version": 9}}, "java.version: must be one of 8, 11, 17, 21, got 9"),
    ({"kernels": {"name": "my kernel"}}, "kernels.name: must use only letters, digits"),
    ({"kernels": {"spark_opts": "--conf a=b; rm -rf /"}}, "kernels.spark_opts: must be plain spark-submit options"),
    (
        {"gateway": {"kernel_launch_timeout": 200, "request_timeout": 100}},
        "gateway.request_timeout: must be greater than gateway.kernel_launch_timeout (200)",
    ),
    (
        {"gateway": {"kernel_launch_timeout": 5}},
        "gateway.kernel_launch_timeout: input should be greater than or equal to 10",
    ),
    ({"hub": {"default_url": "/home"}}, "hub.default_url: must be one of '/lab' or '/tree'"),
    ({"services": {"manager": "upstart"}}, "services.manager: must be one of 'auto', 'systemd' or 'process'"),
    ({"hub": {"port": 8888}}, "hub.port: port 8888 is already used by gateway.port"),
    (
        {"proxy": {"api_port": 8081}},
        "proxy.api_port: port 8081 is already used by hub.hub_port; every service needs its own port",
    ),
    (
        {"gateway": {"unauthorized_users": ["root", "hubadmin"]}},
        "gateway.unauthorized_users: contains the hub admin 'hubadmin'",
    ),
    (
        {"gateway": {"impersonation": True, "user": "jeg-gateway"}},
        "gateway.user: must be root (or left out, which means root) when gateway.impersonation = true",
    ),
    ({"gateway": {"impersonation": "maybe"}}, "gateway.impersonation: input should be a valid boolean"),
    (
        {"spark": {"version": "2.4.8"}, "java": {"version": 8}},
        "java.version: Spark 2.4.8 needs Java 8, which Debian GNU/Linux 12 (bookworm) does not ship",
    ),
    ({"spark": {"version": "2.4.8"}}, "java.version: Spark 2.4.8 needs Java 8, got Java 17; set java.version to 8"),
    (
        {"spark": {"version": "4.3.0"}, "java": {"version": 11}},
        "java.version: Spark 4.3.0 needs Java 17 or 21, got Java 11",
    ),
    # places of ours: one each, and nothing inside what the install removes and makes again
    ({"kernels": {"venv": "/srv/v"}, "hub": {"venv": "/srv/v"}}, "kernels.venv: /srv/v is also hub.venv; each needs"),
    ({"system": {"log_dir": "/var/lib/jeg-wizard"}}, "system.log_dir: /var/lib/jeg-wizard is also system.state_dir"),
    (
        {"system": {"state_dir": "/opt/jeg/hub/state"}},
        "system.state_dir: /opt/jeg/hub/state is inside hub.venv (/opt/jeg/hub), which the install removes",
    ),
    (
        {"hub": {"venv": "/srv/all"}, "gateway": {"venv": "/srv/all/gw"}},
        "gateway.venv: /srv/all/gw is inside hub.venv (/srv/all), which the install removes and makes again",
    ),
    ({"spark": {"home": "/opt/jeg/kernel"}}, "kernels.venv: /opt/jeg/kernel is also spark.home"),
    (
        {"environment": {"file": "/opt/jeg/hub/environment"}},
        "environment.file: /opt/jeg/hub/environment is inside hub.venv (/opt/jeg/hub)",
    ),
    (
        {"system": {"log_dir": "/usr/local/share/jupyter/kernels/spark_python_local/log"}},
        "is inside kernels.dir (spark_python_local) (/usr/local/share/jupyter/kernels/spark_python_local)",
    ),
]


@pytest.mark.parametrize("data,message", CASES, ids=[c[1][:50] for c in CASES])
def test_rule_and_message(data, message):
    found = problems(data)
    assert any(message in p for p in found), found


def test_spark24_on_debian12_says_what_to_choose():
    msg = problems({"spark": {"version": "2.4.8"}, "java": {"version": 8}})[0]
    assert "choose a Spark release that runs on Java 17" in msg


def test_spark24_java8_is_fine_where_java8_ships():
    a = parse({"spark": {"version": "2.4.8", "source": "apache"}, "java": {"version": 8}}, UBUNTU22)
    assert a.java.version == 8


def test_all_problems_reported_at_once():
    found = problems({"gateway": {"port": 0, "ip": "x"}, "users": {"admin": "root"}})
    assert len(found) == 3


def test_example_file_is_the_defaults(tmp_path):
    p = tmp_path / "a.toml"
    p.write_text(example_answers())
    assert load(p, DEBIAN12) == Answers()


def test_not_toml(tmp_path):
    p = tmp_path / "a.toml"
    p.write_text("[gateway\nport = 1\n")
    with pytest.raises(AnswersError) as e:
        load(p)
    assert "not valid TOML" in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(AnswersError) as e:
        load(tmp_path / "nope.toml")
    assert "cannot read the answers file" in str(e.value)


def test_tarball_source_accepts_existing_file(tmp_path):
    t = tmp_path / "spark.tgz"
    t.write_bytes(b"x")
    a = parse({"spark": {"source": "tarball", "tarball": str(t)}}, DEBIAN12)
    assert a.spark.tarball == str(t)


def test_answers_file_with_a_password_hash_must_be_private(tmp_path):

    f = tmp_path / "answers.toml"
    f.write_text(
        '[users]\nadmin_password_hash = "$6$saltsalt$.z.EDMc5kKU78p0jfspD7Tiz2AinJiJ1.p75tBKg8pC9o0bCTeH0HQZzi3x4KuZhpGQQWyttxLBk6IS9k8ouq0"\n'
    )
    os.chmod(f, 0o644)
    with pytest.raises(AnswersError) as e:
        load(f, DEBIAN12)
    assert str(e.value) == (
        f"users.admin_password_hash: {f} holds a secret and is readable by group or others "
        f"(mode 644); run: chmod 600 {f}"
    )
    os.chmod(f, 0o600)
    assert load(f, DEBIAN12).users.admin_password_hash.startswith("$6$")
    plain = tmp_path / "plain.toml"
    plain.write_text('[users]\nadmin = "alice"\n')
    os.chmod(plain, 0o644)  # nothing secret in it: readable is fine
    assert load(plain, DEBIAN12).users.admin == "alice"


@pytest.mark.parametrize(
    "text",
    [
        "[users]\nadmin_password = hunter2-Secret\n",  # refused in clear, and here not even TOML
        "[users]\nadmin_password_hash = $6$pepper$hunter2-Secret\n",
        '[users]\nadmin_password_hash = "$6$pepper$hunter2-Secret"\n',  # TOML, but not a whole hash
        '[users]\n"admin_password_hash" = "$6$pepper$hunter2-Secret\n',
        "root:$6$pepper$hunter2-Secret:20228:0:99999:7:::\n",  # /etc/shadow given as the answers file
    ],
)
def test_an_error_never_echoes_a_secret(tmp_path, text):
    """A syntax error quotes its line so the key is found, a bad value is quoted: not where it may be a secret,
    nor a line of a file that is no answers file."""
    f = tmp_path / "a.toml"
    f.write_text(text)
    f.chmod(0o600)
    with pytest.raises(AnswersError) as e:
        load(f)
    said = "\n".join(e.value.problems)
    assert "hunter2" not in said and "pepper" not in said, said
    assert "line 2 (in [users]): " in said or "users.admin_password" in said or "line 1: (not shown" in said, said
