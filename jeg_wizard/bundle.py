"""The offline bundle: everything an install of one answers file needs, in one tar file.

Built on a connected machine of the target's distribution (`jeg-wizard bundle ANSWERS -o FILE`,
jeg_wizard/bundling.py). Inside: bundle.json (what it was built for: `wants`), SHA256SUMS (every
other file), debs/ (a flat apt repository: the packages a minimal server lacks, their whole closure),
wheels/ (every venv's, pyspark's and the wizard's), npm/ (the proxy's installed tree, per release)
and spark/ (a
Spark tarball when the answers take one). `install --bundle FILE` unpacks it once under UNPACK_ROOT,
verifying every file as it is written; the actions then read from it: apt from the flat repository,
pip with --no-index, the proxy's tree unpacked. Nothing reaches a network.

Stdlib only: the bootstrap (./jeg-wizard) runs this file with the distribution's python before the
wizard's venv exists: `python3 bundle.py unpack FILE` (prints the directory), `python3 bundle.py
apt-options DIR` (one argument per line).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import shutil
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

FORMAT = 1
META = "bundle.json"
SUMS = "SHA256SUMS"
UNPACK_ROOT = Path("/var/cache/jeg-wizard/bundle")
CHUNK = 1 << 20


class BundleError(Exception):
    """The bundle cannot be used; the message names the file and what is wrong with it."""


@dataclass(frozen=True)
class Bundle:
    dir: Path
    meta: dict

    @property
    def wheels(self) -> Path:
        return self.dir / "wheels"

    @property
    def wants(self) -> dict:
        return self.meta.get("wants", {})

    def apt_options(self) -> list[str]:
        """apt-get reads only the bundle's flat repository (its own lists: the system's are untouched)."""
        a = self.dir / "apt"
        return [
            "-o",
            f"Dir::Etc::SourceList={a / 'sources.list'}",
            "-o",
            f"Dir::Etc::SourceParts={a / 'sources.list.d'}",
            "-o",
            f"Dir::State::Lists={a / 'lists'}",
        ]

    def pip_options(self) -> list[str]:
        return ["--no-index", "--find-links", str(self.wheels)]

    def npm_tree(self, package: str, version: str) -> Path:
        """A tar of the prefix npm installed package@version into (node_modules/...), its package.json last."""
        return self.dir / "npm" / f"{package}-{version}.tar"

    def spark_url(self) -> str:
        """file:// of the Spark tarball the bundle carries (answers with a tarball source)."""
        name = self.wants.get("spark", {}).get("file", "")
        return (self.dir / "spark" / name).as_uri() if name else ""

    @property
    def spark_sha512(self) -> str:
        return self.wants.get("spark", {}).get("sha512", "")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def read_sums(text: str) -> dict[str, str]:
    """`sha256sum` lines: digest, two spaces (or space + '*'), relative path."""
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        digest, _, name = line.partition(" ")
        name = name[1:] if name[:1] in (" ", "*") else name
        if len(digest) != 64 or not name:
            raise BundleError(f"{SUMS} line {n} is not '<sha256>  <path>'")
        out[name] = digest
    return out


def write_sums(root: Path) -> None:
    """SHA256SUMS of every file under root but itself (the bundle's manifest; `sha256sum -c` reads it)."""
    lines = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and rel != SUMS:
            lines.append(f"{sha256_of(p)}  {rel}")
    (root / SUMS).write_text("\n".join(lines) + "\n")


def _safe_name(name: str) -> str:
    norm = posixpath.normpath(name)
    if norm.startswith(("/", "../")) or norm == ".." or "\\" in norm or "\0" in norm:
        raise BundleError(f"member {name!r} would be written outside the bundle's directory")
    return norm


def _stamp(src: Path) -> str:
    st = src.stat()
    return f"{src.resolve()}\n{st.st_size}\n{st.st_mtime_ns}\n"


def unpack(src: str | os.PathLike, root: Path | None = None, progress=None) -> Bundle:
    """The bundle unpacked and verified under root; a file already unpacked (same path, size and
    time) is not unpacked again. progress(done_bytes, total_bytes) is called as it goes."""
    src, root = Path(src), root or UNPACK_ROOT
    if not src.is_file():
        raise BundleError(f"--bundle {src}: no such file (give the .tar that `jeg-wizard bundle` wrote)")
    current = root / "current"
    try:
        if (current / ".unpacked-from").read_text() == _stamp(src):
            return _open(current)
    except OSError:
        pass
    root.mkdir(parents=True, exist_ok=True)  # readable by apt's _apt sandbox user: no secret in a bundle
    tmp = root / ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(mode=0o755)
    total, done, digests = src.stat().st_size, 0, {}
    try:
        with tarfile.open(src, "r:") as tar:
            for m in tar:
                name = _safe_name(m.name)
                if name == ".":
                    continue
                if m.isdir():
                    (tmp / name).mkdir(parents=True, exist_ok=True)
                    continue
                if not m.isfile():
                    raise BundleError(f"--bundle {src}: member {name} is not a regular file or directory")
                dest = tmp / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                h = hashlib.sha256()
                with tar.extractfile(m) as f, open(dest, "wb") as out:
                    while block := f.read(CHUNK):
                        h.update(block)
                        out.write(block)
                        done += len(block)
                        if progress:
                            progress(min(done, total), total)
                os.chmod(dest, 0o644)
                digests[name] = h.hexdigest()
    except (tarfile.TarError, EOFError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BundleError(f"--bundle {src}: not a readable tar file ({e}); copy the bundle again") from None
    except BundleError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if progress:
        progress(total, total)
    try:
        _verify(src, tmp, digests)
    except BundleError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    apt = tmp / "apt"
    (apt / "sources.list.d").mkdir(parents=True, exist_ok=True)
    (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    # trusted: every file of it was checked against the manifest just now
    (apt / "sources.list").write_text(f"deb [trusted=yes] {(tmp.parent / 'current' / 'debs').as_uri()} ./\n")
    (tmp / ".unpacked-from").write_text(_stamp(src))
    shutil.rmtree(current, ignore_errors=True)
    os.rename(tmp, current)
    return _open(current)


def _verify(src: Path, tree: Path, digests: dict[str, str]) -> None:
    if SUMS not in digests or META not in digests:
        raise BundleError(f"--bundle {src}: no {SUMS if SUMS not in digests else META} in it: not a jeg-wizard bundle")
    sums = read_sums((tree / SUMS).read_text())
    missing = sorted(set(sums) - set(digests))
    damaged = sorted(n for n in sums if n in digests and digests[n] != sums[n])
    extra = sorted(set(digests) - set(sums) - {SUMS})
    problems = []
    if missing:
        problems.append(f"missing from it: {', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}")
    if damaged:
        problems.append(f"not as the manifest says (damaged): {', '.join(damaged[:10])}")
    if extra:
        problems.append(f"not in the manifest: {', '.join(extra[:10])}")
    if problems:
        raise BundleError(f"--bundle {src}: " + "; ".join(problems) + "; copy the bundle again or rebuild it")


def _open(d: Path) -> Bundle:
    try:
        meta = json.loads((d / META).read_text())
    except (OSError, ValueError) as e:
        raise BundleError(f"{d / META}: not readable JSON ({e})") from None
    if meta.get("format") != FORMAT:
        raise BundleError(
            f"{d / META}: bundle format {meta.get('format')!r}; this wizard reads format {FORMAT}: rebuild it"
        )
    return Bundle(d, meta)


def problems(have: dict, want: dict) -> list[str]:
    """What an install of `want` needs that the bundle (built for `have`) does not carry, one line each."""
    out = []
    hp, wp = have.get("platform", {}), want.get("platform", {})
    for key in ("distro", "arch", "python"):
        if hp.get(key) != wp.get(key):
            out.append(
                f"bundle: built for {key} {hp.get(key)!r}, this machine has {wp.get(key)!r}: build the bundle "
                f"on a machine of the target's distribution and Python"
            )
    debs = set(have.get("debs", []))
    if miss := [p for p in want.get("debs", []) if p not in debs]:
        out.append(f"bundle: no .deb for {', '.join(miss)} (java.version?): rebuild it from these answers")
    for name, reqs in want.get("venvs", {}).items():
        if have.get("venvs", {}).get(name) != reqs:
            out.append(
                f"bundle: the {name} environment's requirements differ from this wizard's "
                f"({', '.join(reqs)}): rebuild the bundle with this wizard"
            )
    if miss := [v for v in want.get("npm", []) if v not in have.get("npm", [])]:
        out.append(f"bundle: no npm packages for configurable-http-proxy {', '.join(miss)} (proxy.version)")
    hs, ws = have.get("spark", {}), want.get("spark", {})
    for key in ("source", "version", "url", "tarball"):
        if hs.get(key) != ws.get(key):
            out.append(f"bundle: built for spark.{key} = {hs.get(key)!r}, the answers say {ws.get(key)!r}")
    return out


def _progress_lines():
    """progress(done, total) printing a line at each tenth, for the bootstrap's terminal and log."""
    last = -1

    def progress(done: int, total: int) -> None:
        nonlocal last
        tenth = done * 10 // max(total, 1)
        if tenth != last:
            last = tenth
            print(f"jeg-wizard: unpacking the bundle: {tenth * 10}%", file=sys.stderr)

    return progress


def main(argv: list[str]) -> int:
    """For the bootstrap, before the wizard's venv exists."""
    try:
        if len(argv) == 2 and argv[0] == "unpack":
            print(unpack(argv[1], progress=_progress_lines()).dir)
            return 0
        if len(argv) == 2 and argv[0] == "apt-options":
            print("\n".join(_open(Path(argv[1])).apt_options()))
            return 0
    except BundleError as e:
        print(f"jeg-wizard: {e}", file=sys.stderr)
        return 2
    print("usage: bundle.py unpack FILE | apt-options DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
