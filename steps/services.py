"""README: `sudo jupyterhub -f /etc/jupyter/jupyterhub_config.py` ("run it as a service using your
preferred method"): a systemd unit, or a supervised process when PID 1 is not systemd. A standalone
Spark master and worker too, when the kernel's master is spark:// on this host."""

from jeg_wizard import render
from jeg_wizard.actions import ServiceRunning
from jeg_wizard.engine import Step
from jeg_wizard.services import ServiceSpec
from jeg_wizard.supervisor import SYSTEM_PATH

from .hub_config import hub_env_file


def joined_files(L) -> list:
    """What the join step wrote on the hub host: the gateway token and, under TLS, the gateway's CA."""
    return [L.gateway_token_file] + ([L.gateway_ca_file] if L.gateway_tls else [])


def hub_spec(ctx) -> ServiceSpec:
    L = ctx.layout
    return ServiceSpec(
        name="hub",
        description="JupyterHub",
        argv=[str(L.hub_venv / "bin" / "jupyterhub"), "-f", str(L.hub_config)],
        log=str(L.service_log("hub")),
        env={"PATH": f"{L.hub_venv}/bin:{SYSTEM_PATH}"},
        env_file=str(hub_env_file(ctx)),
        cwd=str(L.hub_state_dir),
        ready_url=f"{L.hub_url}/hub/api",
        ready_verify=L.hub_verify,
        # the hub host of a split site: a new join (token, CA) restarts the hub and the user servers holding the old
        config_files=[str(L.hub_config)] + ([str(f) for f in joined_files(L)] if L.role == "hub" else []),
        # PAM and spawning as users need root; users' homes stay writable for their servers
        sandbox=["ProtectSystem=full"],
        # user servers outlive a hub restart or crash (cleanup_servers = False); the hub finds them again.
        # A changed config stops them: they hold the gateway settings they were started with.
        children=str(L.singleuser),
    )


def _spark_env(ctx, local_ip: str) -> dict[str, str]:
    L = ctx.layout
    return {
        "SPARK_HOME": str(L.spark_home),
        "JAVA_HOME": str(L.java_home),
        "PATH": SYSTEM_PATH,
        "SPARK_LOG_DIR": str(L.log_dir),
        "SPARK_PID_DIR": str(L.services_dir),
        "SPARK_LOCAL_IP": local_ip,
        # executors inherit these: a kernel's Python tasks need pyspark importable (the jars do not carry it)
        "PYTHONPATH": render.pythonpath(L),
        "PYSPARK_PYTHON": L.pyspark_python,
    }


def worker_spec(ctx, host: str, env: dict[str, str]) -> ServiceSpec:
    L, s = ctx.layout, ctx.answers.spark
    return ServiceSpec(
        "spark-worker",
        "Spark standalone worker",
        [
            f"{L.spark_home}/bin/spark-class",
            "org.apache.spark.deploy.worker.Worker",
            "--host",
            host,
            "--webui-port",
            str(s.worker_webui_port),
            s.master,
        ],
        str(L.service_log("spark-worker")),
        env=env,
        cwd=str(L.state_dir),
        sandbox=["ProtectSystem=full"],
        ready_url=f"http://{host}:{s.worker_webui_port}/json/",
    )


def spark_specs(ctx) -> list[ServiceSpec]:
    """The standalone master on the gateway host, with a worker beside it unless the site has worker hosts;
    on a worker host its worker only, joining that master."""
    L, s = ctx.layout, ctx.answers.spark
    if L.role == "worker":
        return [worker_spec(ctx, L.worker_ip, _spark_env(ctx, L.worker_ip))] if L.spark_master else []
    hp = L.local_spark_master
    if not hp or not L.runs("gateway"):
        return []
    host, port = hp
    env = _spark_env(ctx, L.spark_local_ip)
    master = ServiceSpec(
        "spark-master",
        "Spark standalone master",
        [
            f"{L.spark_home}/bin/spark-class",
            "org.apache.spark.deploy.master.Master",
            "--host",
            host,
            "--port",
            str(port),
            "--webui-port",
            str(s.master_webui_port),
        ],
        str(L.service_log("spark-master")),
        env=env,
        cwd=str(L.state_dir),
        sandbox=["ProtectSystem=full"],
        ready_url=f"http://{host}:{s.master_webui_port}/json/",
    )
    return [master] if ctx.answers.site.worker_hosts else [master, worker_spec(ctx, host, env)]


def build(ctx):
    if not ctx.answers.services.start:
        return []
    L, kind = ctx.layout, ctx.answers.services.manager
    actions = [ServiceRunning(lambda spec=spec: spec, kind, L.services_dir) for spec in spark_specs(ctx)]
    if L.runs("hub"):  # the gateway started in its own step (on its host)
        actions.append(ServiceRunning(lambda: hub_spec(ctx), kind, L.services_dir))
    return actions


# all the steps before it but the Spark smoke job (a kernel starts without its class archive, only slower)
# and the user servers' gateway client (read when a user server starts, not the hub): the hub starts beside them
NEEDS = (
    "java",
    "spark",
    "environment",
    "kernelspecs",
    "gateway",
    "join",
    "proxy",
    "hub",
    "admin_user",
    "hub_config",
)

STEP = Step(
    "services",
    "Start the hub (and a standalone Spark cluster when configured)",
    "sudo jupyterhub -f /etc/jupyter/jupyterhub_config.py",
    build,
    titles={
        "gateway": "Start the Spark master (standalone; the gateway started in its own step)",
        "hub": "Start the hub",
        "worker": "Start the Spark worker, joining the master on the gateway host",
    },
    needs=NEEDS,
)
