"""The join file: what the gateway host hands the hub host (as `kubeadm join` hands over a token) —
the gateway's URL, its token and the CA its certificate is signed by, in one 0600 JSON file the
operator copies. Never a secret on a command line or on the wire: `install --join FILE` reads it,
and checks all of it before anything changes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports JoinError at every start: nothing heavy here
    from .layout import Layout

KEYS = ("jeg_wizard_join", "gateway_url", "gateway_token", "ca_pem")
VERSION = 1
TOKEN_RX = r"[\x21-\x7e]{16,1024}"  # as a gateway.token_file holds: one line of printable ASCII, no spaces
JOIN_MAX = 64 * 1024


class JoinError(Exception):
    """Every problem of a join file; str() is the message for the operator."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Join:
    gateway_url: str
    token: str
    ca_pem: str  # "" with plain HTTP (site.plain_http)


def render(layout: Layout, token: str, ca_pem: str) -> str:
    """The file's text on the gateway host (the plan masks the token)."""
    body = {"jeg_wizard_join": VERSION, "gateway_url": layout.gateway_url, "gateway_token": token, "ca_pem": ca_pem}
    return json.dumps(body, indent=1) + "\n"


def read(path: str | Path, layout: Layout) -> Join:
    """The join file, checked against this host's answers; JoinError naming what is wrong."""
    from .answers import AnswersError, read_regular

    where = f"--join {path}"
    try:
        raw, mode = read_regular(path, "join file", JOIN_MAX)
    except AnswersError as e:
        raise JoinError([f"--join: {p}" for p in e.problems]) from None
    if mode & 0o077:
        raise JoinError(
            [
                f"{where}: readable by group or others (mode {mode:o}); it holds the gateway token: "
                f"run chmod 600 {path} (and keep it off shared places)"
            ]
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise JoinError([f"{where}: not JSON ({e}); copy the file the gateway host's install wrote"]) from None
    if not isinstance(data, dict):
        raise JoinError([f"{where}: not a JSON object; copy the file the gateway host's install wrote"])
    problems = [f"{where}: missing key '{k}'" for k in KEYS if k not in data]
    problems += [
        f"{where}: unknown key {json.dumps(k)[:60]}; allowed: {', '.join(KEYS)}" for k in data if k not in KEYS
    ]
    if problems:
        raise JoinError(problems)
    if data["jeg_wizard_join"] != VERSION:
        problems.append(
            f"{where}: jeg_wizard_join is {data['jeg_wizard_join']!r}; this jeg-wizard reads version {VERSION}"
        )
    url, token, ca = data["gateway_url"], data["gateway_token"], data["ca_pem"]
    for key, value in (("gateway_url", url), ("gateway_token", token), ("ca_pem", ca)):
        if not isinstance(value, str):
            problems.append(f"{where}: {key} must be a string, got {type(value).__name__}")
    if problems:
        raise JoinError(problems)
    if not re.fullmatch(TOKEN_RX, token):
        problems.append(f"{where}: gateway_token is not a token (16 to 1024 printable ASCII characters, no spaces)")
    if url != layout.gateway_url:
        problems.append(
            f"{where}: gateway_url is {json.dumps(url)[:200]} but the answers give {layout.gateway_url} "
            "(site.gateway_host, gateway.port, gateway.tls); use the join file of this site's gateway host, "
            "or correct the answers"
        )
    if layout.gateway_tls:
        why = _ca_problem(ca)
        if why:
            problems.append(f"{where}: ca_pem {why}; copy the join file the gateway host's install wrote")
    elif ca:
        problems.append(f"{where}: ca_pem is given but the answers say plain HTTP (site.plain_http = true)")
    if problems:
        raise JoinError(problems)
    return Join(url, token, ca)


def _ca_problem(pem: str) -> str | None:
    from cryptography import x509

    if not pem:
        return "is empty, but the gateway speaks TLS (its CA certificate is needed to verify it)"
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        return "is not a PEM certificate"
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return None if is_ca else "is a certificate but not a CA's"
