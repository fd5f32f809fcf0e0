"""README: copy kernels/spark_python_* to /usr/local/share/jupyter/kernels; chmod +x run.sh.

Rendered from kernels/ for the configured master, into the kernels dir the gateway reads; the
kernel itself runs in its own venv (ipykernel only: Spark's python comes from SPARK_HOME).
With gateway.impersonation the kernelspec starts kernels through launch_as_user.py, which runs
each one as the hub user named in KERNEL_USERNAME. kernels.scala adds Toree (its jar from PyPI's
toree package, in a venv of its own) and kernels.r IRkernel (the distribution's packages).
"""

from jeg_wizard import render
from jeg_wizard.actions import AptInstall, FileContent, FileGone, PipTarget, Venv
from jeg_wizard.engine import Step
from jeg_wizard.releases import CURRENT, R_PACKAGES, TOREE_JAR, TOREE_REQUIREMENT

KERNEL_REQUIREMENTS = list(CURRENT.kernel)


def kernel_templates(ctx) -> list[tuple[str, object]]:
    """(kernels/ template, kernelspec directory) for each kernel asked for: the Python one's by master, the
    others' named like their directory."""
    L = ctx.layout
    python = (render.kernel_template_for(ctx.answers.spark.master), L.kernel_dir)
    return [python, *((d.name, d) for d in L.kernel_dirs[1:])]


def _spec_files(L, template: str, kernel_dir) -> list[FileContent]:
    actions = []
    for rel in render.kernel_files(template):
        target = kernel_dir / rel.removesuffix(".j2")
        mode = 0o755 if rel.startswith("bin/") else 0o644

        def text(rel=rel):
            return render.render(f"{template}/{rel}", render.context(L), package="jeg_wizard.kernels")

        validate = (lambda t, n=str(target): render.check_json(t, n)) if target.suffix == ".json" else None
        actions.append(FileContent(target, text, mode=mode, validate=validate))
    return actions


def kernel_file_actions(ctx):
    L = ctx.layout
    actions = [a for template, kernel_dir in kernel_templates(ctx) for a in _spec_files(L, template, kernel_dir)]
    # root runs it when gateway.impersonation is on (every kernel.json names it then): root-owned, 0755
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
    a = ctx.answers
    venv = Venv(ctx.layout.kernel_venv, a.system.python, KERNEL_REQUIREMENTS)
    if ctx.role == "worker":  # executors run a kernel's Python tasks with the driver's PYSPARK_PYTHON path
        return [venv]
    extra = []
    if a.kernels.scala:  # the kernel is Toree's jar, which PyPI ships inside its pip package
        extra.append(PipTarget(ctx.layout.toree_dir, TOREE_REQUIREMENT, TOREE_JAR, no_deps=True))
    if a.kernels.r:
        extra.append(AptInstall(list(R_PACKAGES)))
    # a kernel turned off: its kernelspec goes (the gateway would list a kernel that cannot start)
    wanted = {d for _, d in kernel_templates(ctx)}
    gone = [
        FileGone(d / "kernel.json") for d in (ctx.layout.scala_kernel_dir, ctx.layout.r_kernel_dir) if d not in wanted
    ]
    return [venv, *extra, *kernel_file_actions(ctx), *gone]


STEP = Step(
    "kernelspecs",
    "Install the Spark kernelspecs (Python; Scala and R when asked for)",
    "cp -r kernels/spark_python_standalone /usr/local/share/jupyter/kernels",
    build,
    roles=("all", "gateway", "worker"),
    titles={"worker": "Install the kernels' Python (executors run Python tasks with it)"},
    # PyPI's Spark is on PYTHONPATH by its link alone: the venv and the kernelspecs need not wait for it;
    # a tarball's py4j zip is named in kernel.json once Spark is unpacked (render.pythonpath)
    needs=lambda a: ("system",) if a.spark.source == "pypi" else ("system", "spark"),
)
