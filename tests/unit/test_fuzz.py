"""Fuzzing the answers: files generated from the schema with bad values mixed in, and raw bytes fed to
the loader. Whatever comes in: either valid answers (which then render into configs of the template's
own shape, with no system directory among ours) or an AnswersError naming keys; never another exception.

Bounded: a fixed number of examples each, a deadline per example, and the whole file in well under a
minute on two cores. Each finding becomes a case in tests/corpus.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from jeg_wizard import distro, machine, render
from jeg_wizard.answers import Answers, AnswersError, dump, load, parse, section_model
from jeg_wizard.layout import Layout
from jeg_wizard.values import control_char, system_place

DEBIAN12 = distro.Distro("debian", "12", "Debian GNU/Linux 12 (bookworm)")
FUZZ = settings(
    max_examples=int(os.environ.get("JEGW_FUZZ_EXAMPLES", "250")),
    deadline=2000,
    derandomize=not os.environ.get("JEGW_FUZZ_RANDOM"),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
RAN = {"schema": 0, "schema_valid": 0, "bytes": 0, "mutated": 0, "cli": 0}

# values that broke (or could break) a lax loader: control and format characters, Unicode digits,
# system places, '..', lengths past the file system's, bool-for-int, str-for-int, nan
NASTY = [
    "",
    " ",
    "\n",
    "a\nb",
    "x\u2028y",
    "\u202eevil",
    "\x00",
    "\x7f",
    "\x85",
    "\t",
    "\r",
    "\ufeff",
    "/",
    "/etc",
    "/etc/",
    "//usr//",
    "/var/lib/../../etc",
    "/opt/./x/",
    "/proc/self",
    "/home/alice",
    "/tmp",
    "relative/path",
    "..",
    ".",
    ".hidden",
    "/" + "a" * 300,
    "/a" * 2100,
    "a" * 5000,
    "٤.٣.٠",
    "４.3.0",
    "3.5.3\n",
    "3.5",
    "1.2.3.4",
    "01.2.3",
    "１27.0.0.1",
    "127.0.0.1\n",
    "::1",
    "0.0.0.0",
    "::",
    "300.1.1.1",
    "fe80::1%eth0",
    "2001:db8::1",
    "[::1]",
    "localhost",
    "root",
    "ROOT",
    "jeg-gateway",
    "hubadmin",
    "nobody",
    "daemon",
    "bob\n",
    "a" * 33,
    "-x",
    "_x",
    "https://u:p@h/x.tgz",
    "https://h/a b",
    "file:///nonexistent.tgz",
    "file://host/x",
    "ftp://h/x",
    "http://[::1]:99999/x",
    "javascript:alert(1)",
    "spark://::1:7077",
    "spark://h:0",
    "spark://h:7077",
    "local[0]",
    "local[*]",
    "yarn\n",
    "$6$salt$short",
    "$6$" + "a" * 8 + "$" + "b" * 86,
    "$y$j9T$" + "c" * 22 + "$" + "d" * 43,
    "$2b$12$" + "e" * 53,
    "40000..41000",
    "1..2",
    "8000..9000",
    "０..1000",
    "auto",
    "latest",
    "off",
    "files",
    "generate",
    "pypi",
    "tarball",
    True,
    False,
    0,
    -1,
    1,
    8888,
    65535,
    65536,
    2**63,
    1.5,
    float("nan"),
    float("inf"),
    -0.0,
    [],
    ["root"],
    ["a", "b"],
    [1, 2],
    [["x"]],
    {},
    {"a": 1},
]
bad_value = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    st.integers(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.one_of(st.sampled_from(NASTY[:40]), st.text(max_size=10)), max_size=4),
)

SCHEMA = {name: section_model(name) for name in Answers.model_fields}
# valid values other than the defaults, so accepted answers vary too
GOOD = {
    "system.prefix": ["/usr/local", "/srv/jeg/", "//opt//x"],
    "system.state_dir": ["/srv/jeg/state", "/var/lib/jegw/"],
    "system.log_dir": ["/srv/jeg/log"],
    "gateway.ip": ["::1", "0.0.0.0", "127.0.0.2"],
    "gateway.port": [9999, 1],
    "gateway.port_range": ["40000..41000"],
    "gateway.tls_names": [["gw.example.org", "10.0.0.1"]],
    "gateway.unauthorized_users": [["root", "mallory"]],
    "gateway.unauthorized_groups": [["sudo", "adm"]],
    "gateway.max_kernels": [0, 100],
    "gateway.cull_idle_timeout": [0, 60],
    "gateway.request_timeout": [600, 300.5],
    "spark.master": ["local[2]", "yarn", "spark://localhost:7077", "spark://10.0.0.5:7077"],
    "spark.version": ["3.5.3", "3.3.0"],
    "spark.home": ["/srv/spark"],
    "spark.sha512": ["A" * 128],
    "kernels.name": ["k1", "Spark.3-x"],
    "kernels.display_name": ["Spark ü 3 \"quoted\" 'x' \\"],
    "kernels.spark_opts": ["--driver-memory 2g --conf spark.x=y"],
    "kernels.dir": ["/srv/kernels"],
    "hub.ip": ["::", "127.0.0.1"],
    "hub.hub_ip": ["::1"],
    "hub.config_dir": ["/etc/jupyter-jeg"],
    "users.admin": ["alice", "_svc"],
    "users.allowed": [["bob", "carol"]],
    "users.admin_password_env": ["PW_1"],
    "users.admin_password_hash": [
        "$6$saltsalt$.z.EDMc5kKU78p0jfspD7Tiz2AinJiJ1.p75tBKg8pC9o0bCTeH0HQZzi3x4KuZhpGQQWyttxLBk6IS9k8ouq0"
    ],
    "proxy.version": ["4.6.3"],
    "proxy.api_ip": ["::1"],
    "environment.file": ["/etc/environment.d/jeg.conf"],
}


@st.composite
def answers_data(draw) -> dict:
    """An answers dict: each key left out, its default, or a bad value; now and then an unknown key."""
    data: dict = {}
    bad = draw(st.sampled_from([0, 0, 1, 3]))  # how bad this file is: some files hold no bad value at all
    for section, model in SCHEMA.items():
        how = draw(
            st.sampled_from(
                ["omit", "omit", "table", "table", "table", "table", "table"] + ["not-a-table"] * min(bad, 1)
            )
        )
        if how == "omit":
            continue
        if how == "not-a-table":
            data[section] = draw(bad_value)
            continue
        table = {}
        for key, field in model.model_fields.items():
            pick = draw(st.sampled_from(["omit"] * 12 + ["default", "good", "good"] + ["bad"] * bad))
            if pick == "default":
                table[key] = field.get_default(call_default_factory=True)
            elif pick == "good" and f"{section}.{key}" in GOOD:
                table[key] = draw(st.sampled_from(GOOD[f"{section}.{key}"]))
            elif pick == "bad":
                table[key] = draw(bad_value)
        if bad and draw(st.integers(0, 29)) == 0:
            table[draw(st.sampled_from(["prot", "token", "admin_password", "x\ny", "k" * 300]))] = draw(bad_value)
        data[section] = table
    return data


def assert_named(problems: list[str]) -> None:
    assert problems, "an AnswersError with no problem in it"
    for p in problems:
        assert isinstance(p, str) and p
        assert control_char(p) is None, f"a raw control character in the message: {p!r}"
        assert len(p) < 4000, f"a message of {len(p)} characters"
        head = p.split(":", 1)[0]
        assert re.match(r"^([a-z_]+|'.*')", head) or head.startswith("/") or head == "values nested too deeply", p


def assert_safe(a: Answers) -> None:
    """Accepted answers: no control character anywhere, none of our directories a system place, every
    rendered Python config of its template's own shape."""
    for section in dump(a).values():
        for v in section.values():
            for s in v if isinstance(v, list) else [v]:
                assert not (isinstance(s, str) and control_char(s)), s
    L = Layout(a)
    for d in (
        L.state_dir,
        L.log_dir,
        L.config_dir,
        L.kernel_dir,
        Path(a.kernels.dir),
        L.gateway_venv,
        L.hub_venv,
        L.kernel_venv,
        L.proxy_prefix,
        L.spark_link,
        L.hub_state_dir,
        L.secrets_dir,
        L.tls_dir,
    ):
        assert system_place(str(d)) is None, d
        assert ".." not in d.parts, d
    assert L.kernel_dir.parent == Path(a.kernels.dir)
    # each place its own, nothing inside one the install removes and makes again
    places = [L.state_dir, L.log_dir, L.config_dir, Path(a.kernels.dir), L.spark_link, Path(a.environment.file)]
    rebuilt = [L.gateway_venv, L.hub_venv, L.kernel_venv, L.proxy_prefix, L.spark_dir, *L.kernel_dirs]
    assert len(set(places + rebuilt)) == len(places + rebuilt), places + rebuilt
    assert not [(p, r) for p in places + rebuilt for r in rebuilt if r in p.parents], places + rebuilt
    ctx = render.context(L)
    for t in ("jupyterhub_config.py.j2", "jupyter_enterprise_gateway_config.py.j2", "jupyter_server_config.py.j2"):
        render.check_python(render.render(t, ctx), t)  # render() checks the AST shape
    for rel in render.kernel_files(render.kernel_template_for(a.spark.master)):
        if rel.endswith(".json.j2"):
            tpl = f"{render.kernel_template_for(a.spark.master)}/{rel}"
            render.check_json(render.render(tpl, ctx, package="jeg_wizard.kernels"), rel)


@FUZZ
@given(answers_data())
def test_generated_answers_are_refused_by_key_or_safe(data):
    RAN["schema"] += 1
    try:
        a = parse(data, DEBIAN12)
    except AnswersError as e:
        assert_named(e.problems)
        return
    RAN["schema_valid"] += 1
    assert_safe(a)
    machine.problems(a)  # the machine checks only look; they must not raise either


# near-valid files: one good key with one bad value, so the valid path is exercised too
ONE_KEY = [(s, k) for s, m in SCHEMA.items() for k in m.model_fields]


@FUZZ
@given(st.sampled_from(ONE_KEY), bad_value)
def test_one_bad_value_is_refused_naming_its_key_or_is_safe(where, value):
    RAN["schema"] += 1
    section, key = where
    try:
        a = parse({section: {key: value}}, DEBIAN12)
    except AnswersError as e:
        assert_named(e.problems)
        assert any(
            p.startswith(f"{section}.{key}")
            or p.startswith(f"{section}:")
            or key in p
            or "spark.url" in p
            or "spark.tarball" in p
            or "gateway.tls" in p
            or "hub.tls" in p
            # [ldap] / [oidc] given at all must be complete: a required key of the section is named
            or (section in ("ldap", "oidc") and p.startswith(f"{section}."))
            for p in e.problems
        ), e.problems
        return
    RAN["schema_valid"] += 1
    assert_safe(a)


EXAMPLE = (Path(__file__).resolve().parents[2] / "templates" / "answers.example.toml").read_bytes()


@FUZZ
@given(st.binary(max_size=2000))
def test_loader_on_raw_bytes(tmp_path_factory, raw):
    RAN["bytes"] += 1
    _load_bytes(tmp_path_factory, raw)


@FUZZ
@given(st.integers(0, len(EXAMPLE)), st.integers(0, 40), st.binary(min_size=1, max_size=40))
def test_loader_on_mutated_example(tmp_path_factory, at, cut, insert):
    RAN["mutated"] += 1
    _load_bytes(tmp_path_factory, EXAMPLE[:at] + insert + EXAMPLE[at + cut :])


def _load_bytes(tmp_path_factory, raw: bytes) -> None:
    p = tmp_path_factory.mktemp("raw") / "answers.toml"
    p.write_bytes(raw)
    p.chmod(0o600)
    try:
        a = load(p, DEBIAN12)
    except AnswersError as e:
        assert_named(e.problems)
        return
    assert_safe(a)


# a few generated files through the real command: exit 2 or 0 (`answers --check`), never a traceback
@settings(
    max_examples=int(os.environ.get("JEGW_FUZZ_CLI_EXAMPLES", "12")),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(answers_data())
def test_generated_answers_through_the_command(tmp_path_factory, data):
    import tomli_w

    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError):
        assume(False)  # not expressible in TOML (nan keys, None...)
    root = tmp_path_factory.mktemp("cli")
    p = root / "answers.toml"
    p.write_text(text)
    p.chmod(0o600)
    RAN["cli"] += 1
    r = subprocess.run(
        [sys.executable, "-m", "jeg_wizard", "answers", "--check", str(p)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert "Traceback" not in r.stdout + r.stderr
    assert r.returncode in (0, 2), (r.returncode, r.stderr)
    assert sorted(x.name for x in root.iterdir()) == ["answers.toml"]


def test_generated_cases_ran():
    """Runs last in this file: how many generated cases each fuzz test ran (shown with -s or -rA)."""
    print(f"\ngenerated cases: {RAN}")
    if os.environ.get("JEGW_FUZZ_COUNT_FILE"):
        Path(os.environ["JEGW_FUZZ_COUNT_FILE"]).write_text(repr(RAN))
    assert RAN["schema"] > 0 and RAN["bytes"] > 0 and RAN["mutated"] > 0


@pytest.mark.parametrize("value", ["/etc", "/srv/a/../b"])
def test_rendering_refuses_what_validation_would(value):
    """Belt and braces: a value that skipped validation still cannot add a statement to a config."""
    a = Answers()
    ctx = render.context(Layout(a))
    ctx["hub"]["db_url"] = 'x"\nimport os\n"'
    text = render.render("jupyterhub_config.py.j2", ctx)  # escaped: one string constant, same shape
    assert "\nimport os\n" not in text
    tree_text = render.render("jupyterhub_config.py.j2", render.context(Layout(a)))
    assert text.count("\n") == tree_text.count("\n")
