"""The live OpenID Connect check, run before a hub is switched to OIDC sign-in and by the doctor.

Each hop is one thing the hub will need from the provider at a user's login, proved now against the
real server: its discovery document, that it names itself the way oidc.issuer does, that the callback
the provider sends browsers back to is the hub's public address, and that the client id and secret
are accepted (without any user: a made-up code is refused differently for a good and a bad client), and
that the provider starts a sign-in for that client returning to that callback (its redirect URI is
registered: a provider never sends a browser to one it does not know). The checks stop at the first failed hop; a failure's detail names the answers key to fix. A secret
never appears in a detail.

httpx only, imported inside the functions (the doctor imports this module on a minimal path).
"""

from __future__ import annotations

import base64
import secrets
import ssl
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

CALLBACK_PATH = "/hub/oauth_callback"
DISCOVERY_PATH = "/.well-known/openid-configuration"
REQUIRED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "userinfo_endpoint")
# how the hub's authenticator (OAuthenticator) can send its secret, in the order auth_oidc.py.j2 picks
CLIENT_AUTH_METHODS = ("client_secret_post", "client_secret_basic")
LOOPBACK = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Hop:
    name: str  # "discovery", "issuer", "callback", "client", "redirect"
    ok: bool
    detail: str  # one line for an operator; on failure what failed and which answers key to fix


def callback_url(hub_public_url: str) -> str:
    """Where the provider sends the browser back after sign-in: the hub's OAuth callback."""
    return hub_public_url.rstrip("/") + CALLBACK_PATH


def reachable(cfg, *, timeout: float | None = None, ca_file: str = "") -> list[Hop]:
    """The doctor's check: the discovery document is served and names the configured issuer."""
    hops, _ = _discover(cfg, _timeout(cfg, timeout), _ca(cfg, ca_file))
    return _lines(hops)


def check(
    cfg,
    *,
    client_secret: str | None,
    callback_url: str,
    hub_public_url: str,
    ca_file: str = "",
    timeout: float | None = None,
) -> list[Hop]:
    """Every hop, in order, up to the first failure. `cfg` is the answers' [oidc] section (duck-typed:
    issuer, client_id, scopes, username_claim, groups_claim, allowed_groups, admin_groups, timeout);
    timeout and ca_file default to cfg's."""
    timeout, ca_file = _timeout(cfg, timeout), _ca(cfg, ca_file)
    hops, doc = _discover(cfg, timeout, ca_file)
    for hop in (
        lambda: _callback(callback_url, hub_public_url),
        lambda: _client(cfg, doc, client_secret, callback_url, timeout, ca_file),
        lambda: _redirect(cfg, doc, callback_url, timeout, ca_file),
    ):
        if not hops[-1].ok:
            break
        hops.append(hop())
    return _lines(hops)


def _lines(hops: list[Hop]) -> list[Hop]:
    """Each detail one printable line (a provider's words land in them), of a bounded length."""
    out = []
    for h in hops:
        text = " ".join("".join(ch if ch.isprintable() else " " for ch in h.detail).split())
        out.append(Hop(h.name, h.ok, text if len(text) <= 600 else text[:597] + "..."))
    return out


def _timeout(cfg, timeout: float | None) -> float:
    return float(timeout if timeout is not None else getattr(cfg, "timeout", None) or 5.0)


def _ca(cfg, ca_file: str) -> str:
    return ca_file or getattr(cfg, "ca_file", "") or ""


def _client_http(timeout: float, ca_file: str):
    """An httpx client that verifies TLS against ca_file or the system's CAs (not certifi's: the hub
    uses the system store), ignores proxy variables (the hub's requests do too) and follows no redirect."""
    import httpx

    ctx = ssl.create_default_context(cafile=ca_file) if ca_file else ssl.create_default_context()
    return httpx.Client(verify=ctx, timeout=timeout, follow_redirects=False, trust_env=False)


def _why(exc: BaseException, url: str, timeout: float, ca_key: str = "oidc.ca_file") -> str:
    """A transport error in words an operator can act on: TLS, name resolution, refused, timeout."""
    import socket

    import httpx

    host = urlsplit(url).netloc
    e: BaseException | None = exc
    while e is not None:
        if isinstance(e, ssl.SSLCertVerificationError):
            return (
                f"TLS certificate of {host} not trusted ({e.verify_message or e.reason}): set {ca_key} to the CA "
                "file that signed it, or fix the provider's certificate"
            )
        if isinstance(e, ssl.SSLError):
            hint = " (is it plain http?)" if "WRONG_VERSION_NUMBER" in str(e) else ""
            return f"TLS handshake with {host} failed: {e.reason or e}{hint}"
        if isinstance(e, socket.gaierror):
            return f"cannot resolve the host of {url} ({e.strerror or e})"
        if isinstance(e, ConnectionRefusedError):
            return f"connection to {host} refused (nothing listens there)"
        e = e.__cause__ or e.__context__
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer from {host} within {timeout:g} s"
    text = str(exc) or type(exc).__name__
    if "Name or service not known" in text or "Temporary failure in name resolution" in text:
        return f"cannot resolve the host of {url}"
    return f"cannot reach {host}: {text}"


def _discover(cfg, timeout: float, ca_file: str) -> tuple[list[Hop], dict]:
    import httpx

    issuer = str(getattr(cfg, "issuer", "") or "")
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [Hop("discovery", False, f"oidc.issuer: must be an http(s) URL, got {issuer!r}")], {}
    url = issuer.rstrip("/") + DISCOVERY_PATH
    try:
        with _client_http(timeout, ca_file) as http:
            r = http.get(url, headers={"Accept": "application/json"})
    except (OSError, ssl.SSLError) as e:  # an unreadable CA file: the context is built before any request
        return [Hop("discovery", False, f"oidc.ca_file: cannot use {ca_file!r} as a CA file ({e})")], {}
    except httpx.HTTPError as e:
        why = _why(e, url, timeout)
        return [Hop("discovery", False, f"{url}: {why}" + ("" if "oidc.ca_file" in why else "; check oidc.issuer"))], {}
    if r.is_redirect:
        to = r.headers.get("location", "")
        return [
            Hop("discovery", False, f"{url} redirects to {to}: set oidc.issuer to the provider's own issuer URL")
        ], {}
    if r.status_code != 200:
        return [
            Hop(
                "discovery",
                False,
                f"{url} answered HTTP {r.status_code}: oidc.issuer must be the issuer URL the provider publishes "
                "(without /.well-known/...; for Keycloak https://HOST/realms/REALM)",
            )
        ], {}
    try:
        doc = r.json()
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return [Hop("discovery", False, f"{url} is not a JSON discovery document: check oidc.issuer")], {}
    missing = [k for k in REQUIRED_ENDPOINTS if not isinstance(doc.get(k), str) or not doc.get(k)]
    if missing:
        return [
            Hop(
                "discovery",
                False,
                f"{url} lacks {', '.join(missing)}: the hub needs all of {', '.join(REQUIRED_ENDPOINTS)}",
            )
        ], {}
    warnings = _support_warnings(cfg, doc)
    detail = f"{url}: authorization, token and userinfo endpoints published"
    hops = [Hop("discovery", True, detail + ("; warning: " + "; ".join(warnings) if warnings else ""))]
    said = doc.get("issuer")
    if said != issuer:
        hops.append(
            Hop(
                "issuer",
                False,
                f"the provider names itself {said!r} but oidc.issuer is {issuer!r}: they must be equal exactly "
                f"(trailing slash included); set oidc.issuer = {said!r}",
            )
        )
    else:
        hops.append(Hop("issuer", True, f"the provider names itself {issuer!r}, as oidc.issuer does"))
    return hops, doc


def _support_warnings(cfg, doc: dict) -> list[str]:
    """What the provider says it does not support of what the answers ask for (advice, not a failure:
    scopes_supported and claims_supported are optional and often incomplete)."""
    out = []
    scopes = list(getattr(cfg, "scopes", []) or [])
    supported = doc.get("scopes_supported")
    if "openid" not in scopes:
        out.append("oidc.scopes lacks openid: without it the provider's userinfo endpoint may refuse the hub")
    if isinstance(supported, list):
        unknown = [s for s in scopes if s not in supported]
        if unknown:
            out.append(f"oidc.scopes {', '.join(unknown)} not in the provider's scopes_supported")
    if "code" not in (doc.get("response_types_supported") or ["code"]):
        out.append("the provider does not list response type 'code', which the hub uses")
    claims = doc.get("claims_supported")
    groups_claim = getattr(cfg, "groups_claim", "") or ""
    wants_groups = bool(getattr(cfg, "allowed_groups", None) or getattr(cfg, "admin_groups", None))
    if wants_groups and groups_claim:
        if isinstance(claims, list) and groups_claim not in claims:
            out.append(
                f"oidc.groups_claim {groups_claim!r} not in the provider's claims_supported, but oidc.allowed_groups/"
                "admin_groups rely on it"
            )
        if isinstance(supported, list) and "groups" in supported and "groups" not in scopes:
            out.append("the provider has a 'groups' scope that oidc.scopes does not ask for (groups may be missing)")
    username_claim = getattr(cfg, "username_claim", "") or ""
    if username_claim and isinstance(claims, list) and username_claim not in claims:
        out.append(f"oidc.username_claim {username_claim!r} not in the provider's claims_supported")
    return out


def _callback(callback: str, hub_public_url: str) -> Hop:
    cb, pub = urlsplit(callback), urlsplit(hub_public_url)

    def origin(p):
        try:
            port = p.port or {"http": 80, "https": 443}.get(p.scheme)
        except ValueError:
            port = None
        return f"{p.scheme}://{(p.hostname or '').lower()}:{port}"

    if pub.scheme not in ("http", "https") or not pub.hostname:
        return Hop("callback", False, f"hub.public_url: must be an http(s) URL, got {hub_public_url!r}")
    if origin(cb) != origin(pub):
        return Hop(
            "callback",
            False,
            f"the callback {callback} is on {origin(cb)} but hub.public_url {hub_public_url} is on {origin(pub)}: "
            "the provider sends browsers to the callback, which must be the hub's public address; fix hub.public_url",
        )
    prefix = pub.path.rstrip("/") + "/"
    if not cb.path.startswith(prefix):
        return Hop(
            "callback",
            False,
            f"the callback {callback} is outside hub.public_url's path {pub.path}: fix hub.public_url",
        )
    detail = f"{callback} (register this redirect URI for the client at the provider)"
    if cb.scheme == "http" and (cb.hostname or "").lower() not in LOOPBACK and not cb.hostname.startswith("127."):
        detail += (
            "; warning: plain http on a network address: the authorization code and the hub's cookie cross the "
            "network in clear, and many providers refuse http redirect URIs; use https (hub.tls_cert)"
        )
    return Hop("callback", True, detail)


def hub_client_auth(doc: dict) -> str | None:
    """How the hub's authenticator sends its secret to this provider's token endpoint (auth_oidc.py.j2 makes the
    same choice at hub start): in the form body where the provider takes that, else in a Basic header."""
    offered = doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]  # the spec's default
    return next((m for m in CLIENT_AUTH_METHODS if m in offered), None)


def _client(cfg, doc: dict, client_secret: str | None, callback: str, timeout: float, ca_file: str) -> Hop:
    """A made-up code sent with the client's credentials, the way the hub will send them: a good client gets
    invalid_grant (the code), a bad one invalid_client / 401, before the provider ever looks at the code."""
    client_id = str(getattr(cfg, "client_id", "") or "")
    if not client_id:
        return Hop("client", False, "oidc.client_id is empty: set it to the client id registered at the provider")
    if not client_secret:
        return Hop("client", False, "no client secret: write it to the 0600 file named by oidc.client_secret_file")
    offered = doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    method = hub_client_auth(doc)
    if method is None:
        return Hop(
            "client",
            False,
            f"the provider's token endpoint takes only {', '.join(map(str, offered))}; the hub authenticates with "
            "client_secret_post or client_secret_basic: allow one of them for the client at the provider",
        )
    verdict, said = _try_client(doc["token_endpoint"], client_id, client_secret, method, callback, timeout, ca_file)
    if verdict == "accepted":
        return Hop(
            "client",
            True,
            f"client {client_id!r} and its secret accepted ({method}; the provider refused only a made-up code)",
        )
    if verdict == "refused":
        other = next((m for m in CLIENT_AUTH_METHODS if m != method and m in offered), None)
        if (
            other
            and _try_client(doc["token_endpoint"], client_id, client_secret, other, callback, timeout, ca_file)[0]
            == "accepted"
        ):
            return Hop(
                "client",
                False,
                f"the provider accepts client {client_id!r} only with {other}, but the hub sends {method} (the "
                f"provider lists it): allow {method} for the client at the provider",
            )
        return Hop(
            "client",
            False,
            f"the provider refused client {client_id!r} ({method}: {said}): check oidc.client_id and the secret "
            "in oidc.client_secret_file",
        )
    if verdict == "unauthorized":
        return Hop(
            "client",
            False,
            f"client {client_id!r} is accepted but not allowed the authorization code flow ({said}): enable it "
            "for the client at the provider",
        )
    return Hop("client", False, said)


def _try_client(
    url: str, client_id: str, secret: str, method: str, callback: str, timeout: float, ca_file: str
) -> tuple[str, str]:
    """("accepted" | "refused" | "unauthorized" | "unknown", what the provider said, secret-free)."""
    import httpx

    headers = {"Accept": "application/json"}
    data = {
        "grant_type": "authorization_code",
        "code": "jegw-check-" + secrets.token_urlsafe(16),
        "redirect_uri": callback,
    }
    if method == "client_secret_basic":
        # as OAuthenticator builds it (id:secret, not form-urlencoded first): a secret it would garble fails here too
        headers["Authorization"] = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    else:
        data.update(client_id=client_id, client_secret=secret)
    try:
        with _client_http(timeout, ca_file) as http:
            r = http.post(url, data=data, headers=headers)
    except httpx.HTTPError as e:
        return "unknown", _scrub(f"token endpoint {url}: {_why(e, url, timeout)}", secret)
    error, description = _oauth_error(r)
    said = _scrub(f"HTTP {r.status_code} {error or ''} {description or ''}".strip(), secret)
    if r.status_code == 401 or error == "invalid_client":
        return "refused", said
    if error == "unauthorized_client":
        return "unauthorized", said
    if error == "invalid_grant" or (
        r.status_code == 400 and error == "invalid_request" and "code" in (description or "").lower()
    ):
        return "accepted", said
    return "unknown", (
        f"token endpoint {url} answered {said} to a made-up code: cannot tell whether oidc.client_id and the "
        "secret in oidc.client_secret_file are right"
    )


def _redirect(cfg, doc: dict, callback: str, timeout: float, ca_file: str) -> Hop:
    """The sign-in request the hub will send, without a user: a provider checks client_id and redirect_uri
    before it shows its login page, and never redirects to a redirect URI it does not know."""
    import httpx

    client_id = str(getattr(cfg, "client_id", "") or "")
    url = doc["authorization_endpoint"]
    params = {
        "client_id": client_id,
        "redirect_uri": callback,
        "response_type": "code",
        "scope": " ".join(getattr(cfg, "scopes", None) or ["openid"]),
        "state": secrets.token_urlsafe(12),
        "nonce": secrets.token_urlsafe(12),
        "code_challenge": secrets.token_urlsafe(32),  # the hub sends PKCE; any 43-char value is well-formed
        "code_challenge_method": "S256",
    }
    try:
        with _client_http(timeout, ca_file) as http:
            r = http.get(url, params=params)
    except httpx.HTTPError as e:
        return Hop("redirect", False, f"authorization endpoint {url}: {_why(e, url, timeout)}")
    location = r.headers.get("location", "") if r.is_redirect else ""
    if location.split("?")[0].split("#")[0] == callback:
        query = dict(parse_qsl(urlsplit(location).query))
        error = query.get("error", "")
        if error and error not in (
            "login_required",
            "interaction_required",
            "consent_required",
            "account_selection_required",
        ):
            key = "oidc.scopes" if error == "invalid_scope" else "the client's settings at the provider"
            desc = " ".join(query.get("error_description", "").split())[:200]
            return Hop(
                "redirect", False, f"the provider answered the sign-in request with {error} ({desc}): check {key}"
            )
    elif r.status_code >= 400 or "error" in urlsplit(location).path.lower():
        return Hop(
            "redirect",
            False,
            f"the provider refused a sign-in for client {client_id!r} returning to {callback} (HTTP {r.status_code}): "
            "register that redirect URI for the client at the provider, or fix hub.public_url",
        )
    return Hop("redirect", True, f"the provider starts a sign-in for client {client_id!r} returning to {callback}")


def _oauth_error(r) -> tuple[str | None, str | None]:
    try:
        body = r.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    error, description = body.get("error"), body.get("error_description")
    return (
        error if isinstance(error, str) else None,
        " ".join(description.split())[:200] if isinstance(description, str) else None,
    )


def _scrub(text: str, secret: str) -> str:
    """A provider may echo what it was sent; the secret (and its encoded forms) never reach a detail."""
    for form in {secret, quote(secret, safe=""), quote(secret)}:
        if form and len(form) >= 4:
            text = text.replace(form, "***")
    return text
