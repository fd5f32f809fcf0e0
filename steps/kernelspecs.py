"""README: copy kernels/spark_python_* to /usr/local/share/jupyter/kernels; chmod +x run.sh.

Rendered from kernels/ for the configured master, into the kernels dir the gateway reads; the
kernel itself runs in its own venv (ipykernel only: Spark's python comes from SPARK_HOME).
With gateway.impersonation the kernelspec starts kernels through launch_as_user.py, which runs
each one as the hub user named in KERNEL_USERNAME.
"""

from jeg_wizard import render
from jeg_wizard.actions import FileContent, Venv
from jeg_wizard.engine import Step
from jeg_wizard.releases import CURRENT

KERNEL_REQUIREMENTS = list(CURRENT.kernel)


def kernel_file_actions(ctx):
    L = ctx.layout
    template = render.kernel_template_for(ctx.answers.spark.master)
    actions = []
    for rel in render.kernel_files(template):
        target = L.kernel_dir / rel.removesuffix(".j2")
        mode = 0o755 if rel.startswith("bin/") else 0o644

        def text(rel=rel):
            return render.render(f"{template}/{rel}", render.context(L), package="jeg_wizard.kernels")

        validate = (lambda t, n=str(target): render.check_json(t, n)) if target.suffix == ".json" else None
        actions.append(FileContent(target, text, mode=mode, validate=validate))
    # root runs it when gateway.impersonation is on (kernel.json names it then): root-owned, 0755
    launcher = L.kernel_dir / render.LAUNCHER
    actions.append(
        FileContent(
            launcher,
            lambda: render.kernel_launcher(),
            mode=0o755,
            validate=lambda t: render.check_python(t, str(launcher)),
        )
    )
    return actions


def build(ctx):
    venv = Venv(ctx.layout.kernel_venv, ctx.answers.system.python, KERNEL_REQUIREMENTS)
    if ctx.role == "worker":  # executors run a kernel's Python tasks with the driver's PYSPARK_PYTHON path
        return [venv]
    return [venv, *kernel_file_actions(ctx)]


STEP = Step(
    "kernelspecs",
    "Install the Spark Python kernelspec",
    "cp -r kernels/spark_python_standalone /usr/local/share/jupyter/kernels",
    build,
    roles=("all", "gateway", "worker"),
    titles={"worker": "Install the kernels' Python (executors run Python tasks with it)"},
    needs=("system", "spark"),
)
