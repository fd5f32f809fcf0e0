"""TLS between the user servers and the gateway: a private CA generated once (or files given), the
gateway's certificate for the names clients use, and checks that say which part is wrong.

Generated material is kept while it is still good (same CA, same names, > 30 days left), so a
second run writes nothing and the gateway is not restarted for nothing.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import files

RENEW_BEFORE = dt.timedelta(days=30)
CA_DAYS, SERVER_DAYS = 3650, 825


class TLSError(Exception):
    pass


def gateway_names(a) -> list[str]:
    """What clients may call the gateway: its address, loopback, this host's names, the extra names, and on a
    site of several hosts the gateway host's address."""
    names = {"localhost", "127.0.0.1", "::1", socket.gethostname(), socket.getfqdn()}
    if not ipaddress.ip_address(a.gateway.ip).is_unspecified:
        names.add(a.gateway.ip)
    names.update(a.gateway.tls_names)
    if a.site.gateway_host:  # a split site: the address the hub host connects to
        names.add(a.site.gateway_host)
    return sorted(n for n in names if n)


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    out: list[x509.GeneralName] = []
    for n in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            out.append(x509.DNSName(n))
    return x509.SubjectAlternativeName(out)


def cert_names(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return sorted([*san.get_values_for_type(x509.DNSName), *(str(i) for i in san.get_values_for_type(x509.IPAddress))])


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _good_until(cert: x509.Certificate) -> bool:
    return cert.not_valid_after_utc - _now() > RENEW_BEFORE


def _same_key(cert: x509.Certificate, key) -> bool:
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    return cert.public_key().public_bytes(serialization.Encoding.PEM, pub) == key.public_key().public_bytes(
        serialization.Encoding.PEM, pub
    )


def _load(cert_path: Path, key_path: Path):
    cert_pem, key_pem = files.read(cert_path), files.read(key_path)
    if not cert_pem or not key_pem:
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
    except ValueError:
        return None
    return (cert, key, cert_pem, key_pem) if _same_key(cert, key) else None


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
        return True
    except (InvalidSignature, ValueError, TypeError):  # wrong signature, issuer name or key type
        return False


def new_ca(common_name: str = "jeg-wizard private CA") -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{common_name} ({socket.gethostname()})")])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def new_server_cert(ca_pem: bytes, ca_key_pem: bytes, names: list[str]) -> tuple[bytes, bytes]:
    ca = x509.load_pem_x509_certificate(ca_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "gateway")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_san(names), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


@dataclass
class Material:
    """The PEM texts the install writes: kept from disk while good, generated (once per run) when not."""

    ca_cert: bytes
    ca_key: bytes | None  # None: a CA given as a file (we never hold its key)
    cert: bytes
    key: bytes
    generated: list[str]  # what this run made new, for the log


def generated_material(layout) -> Material:
    made = []
    ca = _load(layout.gateway_ca_file, layout.tls_ca_key)
    if ca and ca[0].extensions.get_extension_for_class(x509.BasicConstraints).value.ca and _good_until(ca[0]):
        ca_pem, ca_key_pem = ca[2], ca[3]
    else:
        ca_pem, ca_key_pem = new_ca()
        made.append("private CA")
    want = gateway_names(layout.a)
    srv = _load(layout.gateway_cert_file, layout.gateway_key_file)
    ca_cert = x509.load_pem_x509_certificate(ca_pem)
    if srv and _issued_by(srv[0], ca_cert) and cert_names(srv[0]) == sorted(want) and _good_until(srv[0]):
        cert_pem, key_pem = srv[2], srv[3]
    else:
        cert_pem, key_pem = new_server_cert(ca_pem, ca_key_pem, want)
        made.append(f"gateway certificate for {', '.join(want)}")
    return Material(ca_pem, ca_key_pem, cert_pem, key_pem, made)


def given_material(a) -> Material:
    from .secrets import read_private_file

    g = a.gateway
    key = read_private_file(Path(g.tls_key), "gateway.tls_key").encode() + b"\n"
    return Material(Path(g.tls_ca).read_bytes(), None, Path(g.tls_cert).read_bytes(), key, [])


def check_gateway_files(cert_path: Path, key_path: Path, ca_path: Path, host: str) -> str:
    """The certificate matches its key, was issued by the CA, is current and names `host`."""
    try:
        cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    except ValueError as e:
        raise TLSError(f"{cert_path}: not a PEM certificate ({e})") from None
    try:
        key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    except (ValueError, TypeError) as e:
        raise TLSError(f"{key_path}: not an unencrypted PEM private key ({e})") from None
    try:
        ca = x509.load_pem_x509_certificate(Path(ca_path).read_bytes())
    except ValueError as e:
        raise TLSError(f"{ca_path}: not a PEM CA certificate ({e})") from None
    if not _same_key(cert, key):
        raise TLSError(f"{key_path} is not the private key of the certificate {cert_path}")
    if not _issued_by(cert, ca):
        raise TLSError(
            f"the gateway certificate {cert_path} (issuer {cert.issuer.rfc4514_string()}) was not "
            f"signed by the CA in {ca_path} ({ca.subject.rfc4514_string()})"
        )
    now = _now()
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise TLSError(
            f"the gateway certificate {cert_path} is valid only from {cert.not_valid_before_utc:%Y-%m-%d} "
            f"to {cert.not_valid_after_utc:%Y-%m-%d}"
        )
    names = cert_names(cert)
    if host not in names:
        raise TLSError(
            f"the gateway certificate {cert_path} does not name '{host}', the host clients use "
            f"(it names: {', '.join(names) or 'nothing'}); add it to the certificate"
        )
    days = (cert.not_valid_after_utc - now).days
    return f"gateway certificate for {', '.join(names)}, signed by {ca.subject.rfc4514_string()}, {days} days left"
