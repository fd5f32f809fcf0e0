"""Spark from a tarball over HTTP on loopback, sha512-verified, extracted, linked and smoke-tested;
and the download faults an operator meets: wrong checksum, 404."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import tempfile
import threading
import zipfile
from pathlib import Path

import pytest
import tomli_w

from .conftest import make_answers, wizard

pytestmark = pytest.mark.e2e
SPARK_STEPS = [
    "--only",
    "system",
    "--only",
    "java",
    "--only",
    "spark",
    "--only",
    "environment",
    "--only",
    "spark_smoke",
]


@pytest.fixture(scope="module")
def served_tarball(installed):
    """An Apache-shaped spark-<v>-bin-hadoop3.tgz made from the installed pyspark, served on 127.0.0.1."""
    work = Path(tempfile.mkdtemp(prefix="jegw-tgz-", dir="/tmp"))
    pyspark = installed.layout.spark_real_home  # <prefix>/spark-4.3.0-pypi/pyspark
    top = work / "spark-4.3.0-bin-hadoop3"
    for d in ("bin", "jars"):
        shutil.copytree(pyspark / d, top / d, symlinks=True)
    shutil.copytree(
        pyspark, top / "python" / "pyspark", ignore=shutil.ignore_patterns("jars", "bin", "sbin", "__pycache__")
    )
    (top / "python" / "lib").mkdir()
    py4j = pyspark.parent / "py4j"
    with zipfile.ZipFile(top / "python" / "lib" / "py4j-0.10.9.9-src.zip", "w") as z:
        for f in py4j.rglob("*.py"):
            z.write(f, f"py4j/{f.relative_to(py4j)}")
    with zipfile.ZipFile(top / "python" / "lib" / "pyspark.zip", "w") as z:  # as in Apache's tarball
        for f in (top / "python" / "pyspark").rglob("*"):
            if f.is_file() and "__pycache__" not in f.parts:
                z.write(f, f"pyspark/{f.relative_to(top / 'python' / 'pyspark')}")
    www = work / "www"
    www.mkdir()
    tgz = www / "spark-4.3.0-bin-hadoop3.tgz"
    subprocess.run(["tar", "-C", str(work), "-I", "gzip -1", "-cf", str(tgz), top.name], check=True)
    shutil.rmtree(top)
    sha = hashlib.sha512(tgz.read_bytes()).hexdigest()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{tgz.name}", sha
    server.shutdown()
    shutil.rmtree(work, ignore_errors=True)


def _answers(tmp_path: Path, url: str, sha: str) -> Path:
    tmp_path.chmod(0o755)
    (tmp_path / "etc").mkdir(exist_ok=True)
    (tmp_path / "etc" / "environment").write_text("")
    data = make_answers(tmp_path, spark={"source": "url", "url": url, "sha512": sha})
    p = tmp_path / "answers.toml"
    p.write_text(tomli_w.dumps(data))
    return p


def test_tarball_over_http_verified_extracted_and_runs_a_job(served_tarball, tmp_path, installed):
    url, sha = served_tarball
    r = wizard("install", "--unattended", str(_answers(tmp_path, url, sha)), *SPARK_STEPS, env=installed.env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "sha512 verified" in out and "JEG_WIZARD_SMOKE 100" in out
    assert os.readlink(tmp_path / "opt" / "spark") == str(tmp_path / "opt" / "spark-4.3.0-bin-hadoop3")
    assert (tmp_path / "opt" / "spark" / "bin" / "spark-submit").exists()
    assert f'SPARK_HOME="{tmp_path}/opt/spark"' in (tmp_path / "etc" / "environment").read_text()


def test_wrong_checksum_fails_clearly_and_leaves_nothing(served_tarball, tmp_path, installed):
    url, _ = served_tarball
    r = wizard("install", "--unattended", str(_answers(tmp_path, url, "0" * 128)), *SPARK_STEPS, env=installed.env)
    assert r.returncode == 1
    assert "sha512 mismatch" in r.stderr
    assert not (tmp_path / "opt" / "spark-4.3.0-bin-hadoop3").exists()
    assert not list((tmp_path / "state" / "downloads").glob("*"))


def test_missing_tarball_404(served_tarball, tmp_path, installed):
    url, sha = served_tarball
    r = wizard(
        "install",
        "--unattended",
        str(_answers(tmp_path, url.replace(".tgz", "-nope.tgz"), sha)),
        *SPARK_STEPS,
        env=installed.env,
    )
    assert r.returncode == 1 and "HTTP 404" in r.stderr
