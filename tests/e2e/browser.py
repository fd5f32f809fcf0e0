"""Drive JupyterLab through JupyterHub in Debian's Chromium: log in, open a notebook on a gateway
kernel, wait for Idle, run one cell and return its output.

Playwright cannot download browsers here, so it drives /usr/bin/chromium (apt package `chromium`).
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEFAULT_CODE = "spark.range(1000).count()"


class LabRunError(RuntimeError):
    """The browser run failed; the message says at which stage, and where the screenshot is."""


def run_spark_cell_in_lab(
    hub_url: str,
    user: str,
    password: str,
    kernel_display_name: str,
    timeout: float = 180,
    *,
    code: str = DEFAULT_CODE,
    screenshot_path: str | None = None,
    timings: dict[str, float] | None = None,
    cleanup: bool = True,
    login=None,
) -> str:
    """Log in at ``hub_url`` as ``user``, create a notebook on ``kernel_display_name`` from the Lab
    launcher, wait for the kernel to be Idle, run ``code`` in the first cell and return the cell's
    output text.

    ``timeout`` bounds the whole run. On failure raises LabRunError naming the stage, the last kernel
    status seen and the kernel websocket events, after saving a screenshot to ``screenshot_path`` (or
    a temporary file). If ``timings`` is a dict it receives seconds per stage. With ``cleanup`` the
    run ends by shutting its kernels down (a Spark kernel holds ~0.5 GiB) and deleting its notebook.
    ``login(page, hub_url, user, password, timeout_ms)`` signs in another way than the hub's own form (an
    OpenID provider's page); it returns once the browser has left the sign-in pages.
    """
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    hub_url = hub_url.rstrip("/")
    deadline = time.monotonic() + timeout
    stage = "start"
    ws_events: list[str] = []
    status_seen = ""
    timings = {} if timings is None else timings

    def remaining_ms() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"overall timeout of {timeout:.0f} s reached")
        return left * 1000

    def step(name: str) -> float:
        nonlocal stage
        stage = name
        return time.monotonic()

    def done(name: str, t0: float) -> None:
        timings[name] = round(time.monotonic() - t0, 2)

    def watch_websocket(ws) -> None:
        if "/api/kernels/" not in ws.url:
            return
        tail = ws.url.split("/api/kernels/", 1)[1]
        ws_events.append(f"open {tail}")
        ws.on("close", lambda _ws: ws_events.append(f"close {tail}"))
        ws.on("socketerror", lambda err: ws_events.append(f"error {tail}: {err}"))

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=60_000)
        page = None
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.on("websocket", watch_websocket)

            t0 = step("log in")
            (login or hub_form_login)(page, hub_url, user, password, remaining_ms())
            done("login", t0)

            t0 = step("spawn the user server and load JupyterLab")
            page.wait_for_url(re.compile(rf"/user/{re.escape(user)}/lab"), timeout=remaining_ms())
            # A saved workspace may reopen an old notebook (and its "Select Kernel" dialog) over the
            # launcher: start from a reset workspace.
            page.goto(f"{hub_url}/user/{user}/lab?reset", timeout=remaining_ms())
            card = page.locator('.jp-LauncherCard[data-category="Notebook"]', has_text=kernel_display_name).first
            card.wait_for(state="visible", timeout=remaining_ms())
            done("spawn_and_lab_loaded", t0)

            t0 = step(f"open a notebook on {kernel_display_name!r} and wait for Idle")
            card.click()
            panel = page.locator(".jp-NotebookPanel:visible").first
            panel.wait_for(state="visible", timeout=remaining_ms())
            while True:
                status_seen = _kernel_status(page, kernel_display_name)
                if status_seen.lower() == "idle":
                    break
                if status_seen.lower() in ("dead", "disconnected"):
                    raise LabRunError(f"kernel went {status_seen}")
                remaining_ms()
                page.wait_for_timeout(250)
            done("kernel_idle", t0)

            t0 = step(f"run {code!r}")
            editor = panel.locator(".jp-Cell .jp-InputArea-editor .cm-content").first
            editor.click()
            page.keyboard.insert_text(code)
            page.keyboard.press("Shift+Enter")
            output = panel.locator(".jp-Cell").first.locator(".jp-OutputArea-output")
            output.first.wait_for(state="visible", timeout=remaining_ms())
            # The prompt turns from [*] to [n] when the execution finished.
            prompt = panel.locator(".jp-Cell").first.locator(".jp-InputArea-prompt")
            while "*" in (prompt.inner_text() or "") or not prompt.inner_text().strip("[]: \n"):
                remaining_ms()
                page.wait_for_timeout(100)
            # Tracebacks come back as the output text too: the caller compares it with what it expects.
            text = "\n".join(t.strip() for t in output.all_inner_texts()).strip()
            done("cell_output", t0)
            if cleanup:
                _cleanup(context, page, hub_url, user, ws_events)
            return text
        except (PlaywrightError, TimeoutError, LabRunError) as exc:
            shot = screenshot_path or tempfile.mkstemp(prefix="lab-failure-", suffix=".png")[1]
            if page is not None:
                try:
                    Path(shot).parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=shot, full_page=True)
                except PlaywrightError:
                    shot = "(screenshot failed)"
                if cleanup:
                    try:
                        _cleanup(context, page, hub_url, user, ws_events)
                    except PlaywrightError:
                        pass  # best effort: the failure itself is what the caller needs
            raise LabRunError(
                f"Lab run failed while trying to {stage}: {str(exc).splitlines()[0]}; "
                f"last kernel status {status_seen or 'none'!r}; "
                f"kernel websocket events {ws_events[-8:]}; screenshot {shot}"
            ) from exc
        finally:
            browser.close()


def hub_form_login(page, hub_url: str, user: str, password: str, timeout_ms: float) -> None:
    """The hub's own login form (PAM, LDAP)."""
    page.goto(f"{hub_url}/hub/login", timeout=timeout_ms)
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    # A failed login re-renders the login form with an error; success leaves /hub/login.
    page.wait_for_url(re.compile(r"^(?!.*/hub/login).*$"), timeout=timeout_ms)


def _kernel_status(page, kernel_display_name: str) -> str:
    """The kernel status from the status bar item "<display name> | <Status>" (Idle, Busy, Unknown...).

    The notebook toolbar's execution indicator is no use here: it reports "idle" while the kernel
    connection is still "Unknown".
    """
    item = page.locator(".jp-StatusBar-TextItem", has_text=f"{kernel_display_name} |")
    if item.count():
        return item.first.inner_text().rsplit("|", 1)[-1].strip()
    return ""


def _cleanup(context, page, hub_url: str, user: str, ws_events: list[str]) -> None:
    """Shut down the kernels this run connected to and delete the notebook it created."""
    xsrf = next((ck["value"] for ck in context.cookies(f"{hub_url}/user/{user}/") if ck["name"] == "_xsrf"), "")
    headers = {"X-XSRFToken": xsrf}
    api = f"{hub_url}/user/{user}/api"
    for kernel_id in {e.split()[1].split("/", 1)[0] for e in ws_events if e.startswith("open ")}:
        context.request.delete(f"{api}/kernels/{kernel_id}", headers=headers)
    match = re.search(r"/lab/tree/(.+\.ipynb)", page.url)
    if match:
        context.request.delete(f"{api}/contents/{match.group(1)}", headers=headers)


def run_spark_cell_in_classic(
    hub_url: str,
    user: str,
    password: str,
    kernel_display_name: str,
    timeout: float = 240,
    *,
    code: str = DEFAULT_CODE,
    screenshot_path: str | None = None,
    timings: dict[str, float] | None = None,
    cleanup: bool = True,
) -> str:
    """The classic notebook (5.7, hub.gateway_client = "nb2kg") as run_spark_cell_in_lab drives Lab: log in,
    wait for /user/<user>/tree, New -> ``kernel_display_name`` (it opens a new tab), wait until the kernel
    is ready and idle, run ``code`` in the first cell and return its output text. ``timings`` receives
    seconds per stage, "kernel_idle" from the click on New to a ready kernel. Failures as LabRunError."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    hub_url = hub_url.rstrip("/")
    deadline = time.monotonic() + timeout
    stage = "start"
    ws_events: list[str] = []
    status_seen = ""
    timings = {} if timings is None else timings

    def remaining_ms() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"overall timeout of {timeout:.0f} s reached")
        return left * 1000

    def watch_websocket(ws) -> None:
        if "/api/kernels/" in ws.url:
            tail = ws.url.split("/api/kernels/", 1)[1]
            ws_events.append(f"open {tail}")
            ws.on("close", lambda _ws: ws_events.append(f"close {tail}"))

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=60_000)
        page = nb = None
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.on("websocket", watch_websocket)

            t0, stage = time.monotonic(), "log in"
            hub_form_login(page, hub_url, user, password, remaining_ms())
            timings["login"] = round(time.monotonic() - t0, 2)

            t0, stage = time.monotonic(), "spawn the user server and load the classic tree"
            page.wait_for_url(re.compile(rf"/user/{re.escape(user)}/tree"), timeout=remaining_ms())
            page.locator("#new-dropdown-button").wait_for(state="visible", timeout=remaining_ms())
            timings["spawn_and_tree_loaded"] = round(time.monotonic() - t0, 2)

            t0, stage = time.monotonic(), f"open a new notebook on {kernel_display_name!r} and wait for a ready kernel"
            page.click("#new-dropdown-button")
            item = page.locator("#new-menu li[id^='kernel-'] a", has_text=kernel_display_name).first
            with context.expect_page(timeout=remaining_ms()) as opened:
                item.click()
            nb = opened.value
            nb.on("websocket", watch_websocket)
            nb.wait_for_url(re.compile(rf"/user/{re.escape(user)}/notebooks/.+\.ipynb"), timeout=remaining_ms())
            nb.locator("#kernel_indicator_icon").wait_for(state="attached", timeout=remaining_ms())
            while True:
                status_seen = nb.evaluate(
                    "() => { const k = window.Jupyter && Jupyter.notebook && Jupyter.notebook.kernel;"
                    " const icon = document.getElementById('kernel_indicator_icon');"
                    " return (k && k.is_connected() ? 'connected ' : 'connecting ') + (icon ? icon.title : ''); }"
                )
                if status_seen == "connected Kernel Idle":
                    break
                if "Dead" in status_seen:
                    raise LabRunError(f"kernel went {status_seen}")
                remaining_ms()
                nb.wait_for_timeout(250)
            timings["kernel_idle"] = round(time.monotonic() - t0, 2)

            t0, stage = time.monotonic(), f"run {code!r}"
            nb.locator(".cell .CodeMirror").first.click()
            nb.keyboard.insert_text(code)
            nb.keyboard.press("Shift+Enter")
            cell = nb.locator(".cell").first
            output = cell.locator(".output_subarea")
            output.first.wait_for(state="visible", timeout=remaining_ms())
            prompt = cell.locator(".input_prompt")
            while "*" in prompt.inner_text() or not re.search(r"\[\d+\]", prompt.inner_text()):
                remaining_ms()
                nb.wait_for_timeout(100)
            text = "\n".join(t.strip() for t in output.all_inner_texts()).strip()
            timings["cell_output"] = round(time.monotonic() - t0, 2)
            if cleanup:
                _classic_cleanup(context, nb, hub_url, user)
            return text
        except (PlaywrightError, TimeoutError, LabRunError) as exc:
            shot = screenshot_path or tempfile.mkstemp(prefix="classic-failure-", suffix=".png")[1]
            where = nb or page
            if where is not None:
                try:
                    Path(shot).parent.mkdir(parents=True, exist_ok=True)
                    where.screenshot(path=shot, full_page=True)
                except PlaywrightError:
                    shot = "(screenshot failed)"
                if cleanup and nb is not None:
                    try:
                        _classic_cleanup(context, nb, hub_url, user)
                    except PlaywrightError:
                        pass
            raise LabRunError(
                f"classic notebook run failed while trying to {stage}: {str(exc).splitlines()[0]}; "
                f"last kernel status {status_seen or 'none'!r}; kernel websocket events {ws_events[-8:]}; "
                f"screenshot {shot}"
            ) from exc
        finally:
            browser.close()


def _classic_cleanup(context, nb, hub_url: str, user: str) -> None:
    """Shut the notebook's kernel down (through nb2kg: the gateway's) and delete the notebook."""
    kernel_id, path = nb.evaluate(
        "() => [Jupyter.notebook.kernel ? Jupyter.notebook.kernel.id : '', Jupyter.notebook.notebook_path]"
    )
    # the classic notebook sets _xsrf on / (tornado's default)
    xsrf = next((ck["value"] for ck in context.cookies(f"{hub_url}/user/{user}/") if ck["name"] == "_xsrf"), "")
    headers = {"X-XSRFToken": xsrf}
    api = f"{hub_url}/user/{user}/api"
    if kernel_id:
        context.request.delete(f"{api}/kernels/{kernel_id}", headers=headers)
    if path:
        context.request.delete(f"{api}/contents/{path}", headers=headers)
