"""The gateway host's side of tests/systemd/test_two_hosts.py, run inside its network namespace.


`prepare ANSWERS`: this host's role found from its real interfaces, then the real actions that give the
gateway its token and TLS files (steps/gateway.py) and the join step (steps/join.py), through the engine.
`serve ANSWERS [BIND]`: a stand-in for Enterprise Gateway's API on gateway.ip (or BIND) with the certificate
and token those actions wrote: 401 without the token, its version, our kernelspec and no kernels with it.
(Enterprise Gateway itself needs its venv, which a host without internet gets from an offline bundle.)
"""

from __future__ import annotations

import http.server
import json
import ssl
import sys

from jeg_wizard import roles
from jeg_wizard.actions import Directory, secret_file
from jeg_wizard.answers import load
from jeg_wizard.engine import Engine, Step, make_context
from jeg_wizard.layout import Layout
from jeg_wizard.steps import gateway, join


def prepare(path: str) -> None:
    a = load(path)
    role = roles.detect(a)  # from this namespace's interfaces
    print(f"role: {role}")
    ctx = make_context(a, role=role, log_to_file=False)
    L = ctx.layout

    def token_and_tls(ctx):
        return [
            Directory(L.secrets_dir, 0o711),
            secret_file(L.gateway_token_file, ctx.secrets.gateway_token),
            *gateway.tls_actions(ctx),
        ]

    steps = [Step("gateway", "the gateway's token and TLS files", "", token_and_tls, roles=("gateway",)), join.STEP]
    for st in Engine(ctx, steps).install():
        print(f"{st.step.id}: {st.status}")
    print(f"join file: {L.join_file}")


def serve(path: str, bind: str | None = None) -> None:
    a = load(path)
    L = Layout(a, "gateway")
    token = L.gateway_token_file.read_text().strip()
    kernel = a.kernels.name

    class Gateway(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.headers.get("Authorization") != f"token {token}":
                code, body = 401, {"message": "Unauthorized"}
            elif self.path == "/api":
                code, body = 200, {"gateway_version": "3.3.0", "version": "stand-in"}
            elif self.path == "/api/kernelspecs":
                code, body = 200, {"default": kernel, "kernelspecs": {kernel: {"name": kernel}}}
            elif self.path == "/api/kernels":
                code, body = 200, []
            else:
                code, body = 404, {"message": "Not Found"}
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer((bind or a.gateway.ip, a.gateway.port), Gateway)
    if L.gateway_tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(L.gateway_cert_file, L.gateway_key_file)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(f"serving on {srv.server_address[0]}:{srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    {"prepare": prepare, "serve": serve}[sys.argv[1]](*sys.argv[2:])
