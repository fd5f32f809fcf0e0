"""Roles on separate hosts (no README stage: the README's two servers were joined by hand). The gateway
host writes its join file (URL, token, CA; 0600); the hub host takes it (`install --join FILE`, checked
before any change by jeg_wizard.join): the token into its token file (0600), the CA into its TLS dir."""

from jeg_wizard import files, join
from jeg_wizard.actions import Check, Directory, FileContent, secret_file
from jeg_wizard.engine import Step


def _ca_pem(ctx) -> str:
    """The CA the gateway step wrote (its certificate is signed by it); '' for plain HTTP."""
    L = ctx.layout
    if not L.gateway_tls:
        return ""
    pem = files.read(L.gateway_ca_file)
    if pem is None:
        if ctx.dry_run:  # the plan: the gateway step has not written it yet
            return f"<the CA certificate in {L.gateway_ca_file}>"
        raise RuntimeError(f"{L.gateway_ca_file} is missing: the gateway step writes it (gateway.tls)")
    return pem.decode()


def gateway_host(ctx) -> list:
    L = ctx.layout
    return [
        FileContent(
            L.join_file,
            lambda: join.render(L, ctx.secrets.gateway_token(), _ca_pem(ctx)),
            mode=0o600,
            secret=True,
        )
    ]


def _joined(ctx) -> str:
    """A re-run without --join: what an earlier join put here must still be here."""
    from .services import joined_files

    L = ctx.layout
    wanted = joined_files(L)
    missing = [str(p) for p in wanted if not p.exists()]
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} missing: copy the gateway host's join file ({L.join_file} there) "
            "and run: jeg-wizard install --join FILE"
        )
    return f"joined to the gateway at {L.gateway_url} ({', '.join(map(str, wanted))})"


def hub_host(ctx) -> list:
    L = ctx.layout
    if ctx.join is None:
        return [Check(f"the gateway token and CA of an earlier join are in {L.secrets_dir} and {L.tls_dir}", _joined)]
    actions = [
        Directory(L.secrets_dir, 0o711),
        secret_file(L.gateway_token_file, ctx.secrets.gateway_token),  # root reads it: the hub's config
    ]
    if L.gateway_tls:
        actions += [Directory(L.tls_dir, 0o711), FileContent(L.gateway_ca_file, ctx.join.ca_pem, mode=0o644)]
    return actions


def build(ctx):
    return gateway_host(ctx) if ctx.role == "gateway" else hub_host(ctx)


STEP = Step(
    "join",
    "Hand the gateway's URL, token and CA from the gateway host to the hub host",
    "(two servers) point the hub host's notebook servers at the gateway host",
    build,
    roles=("gateway", "hub"),
    needs=("gateway",),
)
