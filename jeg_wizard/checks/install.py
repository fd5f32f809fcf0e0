"""What the checks of one run look at: the layout, the secrets (through `Secrets` only), one HTTP
client per trust root, one snapshot of the sockets, and the configs as rendered and as on disk."""

from __future__ import annotations

from functools import cached_property

from ..layout import Layout
from ..redact import Redactor
from ..secrets import Secrets
from . import configs, httpget
from .processes import Sockets


class Install:
    def __init__(self, layout: Layout, timeout: float = 3.0, secrets: Secrets | None = None):
        self.L, self.a, self.timeout = layout, layout.a, timeout
        # its own redactor: a secret read here is masked in every finding (see checks.run)
        self.secrets = secrets or Secrets(layout.a, layout, Redactor())
        # one client per trust root: building one per request costs an SSL context each time
        # every URL this client gets is the hub's, the proxy's API or Spark's UI, plain http unless the hub
        # has TLS: then httpx with the hub's CA, else the standard library's (httpget: no httpx to import,
        # no SSL context, no CA bundle), unless a web proxy is set, which httpx honours
        if layout.hub_url.startswith("https:") or httpget.proxied():
            import httpx

            from ..health import tls_verify

            verify = tls_verify(layout.hub_verify) if layout.hub_url.startswith("https:") else False
            self.http = httpx.Client(timeout=timeout, verify=verify)
        else:
            self.http = httpget.Client(timeout)
        self._configs: dict[str, configs.Config | None] = {}

    @cached_property
    def gw_http(self):
        """The gateway under TLS: verified against its own CA, as the user servers do (made when first
        asked: a missing CA file is the gateway check's finding, not a failure of every check)."""
        if not self.L.gateway_tls:
            return self.http
        import httpx

        from ..health import tls_verify

        return httpx.Client(timeout=self.timeout, verify=tls_verify(self.L.gateway_verify))

    def get(self, url: str, **kw):
        """A GET with the client for that URL; httpget.errors() when it fails."""
        return (self.gw_http if url.startswith(self.L.gateway_url) else self.http).get(url, **kw)

    def close(self) -> None:
        self.http.close()
        gw = self.__dict__.get("gw_http")
        if gw is not None and gw is not self.http:
            gw.close()

    @cached_property
    def sockets(self) -> Sockets:
        return Sockets()

    # -- services
    @cached_property
    def manager(self):
        from ..services import manager

        return manager(self.a.services.manager, self.L.services_dir)

    def pid(self, name: str) -> int | None:
        return self.manager.pid(name)

    def log(self, name: str) -> str:
        """Where to read a service's output: `journalctl -u jeg-NAME` under systemd, else its file."""
        from ..services import log_ref

        return log_ref(self.manager.kind, name, str(self.L.service_log(name)))

    # -- configs: the facts from the render context, the files compared with a fresh render
    @cached_property
    def context(self) -> dict:
        from .. import render

        return render.context(self.L)

    def config(self, which: str) -> configs.Config | None:
        """The config on disk, parsed; None when it cannot be read."""
        if which not in self._configs:  # parsed once per run: several checks read the same file
            path = configs.path(self.L, which)
            text = configs.read(path)
            self._configs[which] = None if text is None else configs.Config(text, str(path))
        return self._configs[which]

    def fresh(self, which: str) -> configs.Config:
        return configs.Config(configs.fresh(self.L, which), which)
