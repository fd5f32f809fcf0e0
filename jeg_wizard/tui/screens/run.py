"""Run: the steps with marks and durations, the live log, overall progress. The engine runs the steps
side by side as their needs allow (Engine.run, in a thread worker) and reports back with Messages; on a
failure the operator retries, skips (when the step allows it) or quits and resumes later (a re-run
skips what is finished)."""

from __future__ import annotations

import gc

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, ProgressBar, Static

from ...engine import StepFailed
from ..hints import hint
from ..widgets import LogStream, StageBar, StepList

TAIL = 4  # lines of the failed step's output shown above the buttons (the full log is on disk)


class StepStarted(Message):
    def __init__(self, index: int):
        super().__init__()
        self.index = index


class StepEnded(Message):
    def __init__(self, index: int, status: str):
        super().__init__()
        self.index, self.status = index, status


class StepBroke(Message):
    def __init__(self, index: int, error: str, tail: list[str]):
        super().__init__()
        self.index, self.error, self.tail = index, error, tail


class RunEnded(Message):
    pass


class RunScreen(Screen):
    BINDINGS = [
        Binding("r", "retry", "Retry"),
        Binding("s", "skip", "Skip"),
        Binding("enter,c", "finish", "Continue"),
        Binding("q", "stop", "Quit"),
    ]

    def __init__(self, **kw):
        super().__init__(**kw)
        self.engine = self.app.engine
        self.steps = self.engine.steps
        self.status: dict[str, str] = {}
        self.seconds: dict[str, float] = {}
        self.running: dict[int, float] = {}  # the steps running now, and when each started
        self.failed: int | None = None
        self.done = False
        self._unsubscribe = None

    def compose(self) -> ComposeResult:
        yield StageBar("Run")
        with Horizontal(id="run-progress"):
            yield ProgressBar(total=len(self.steps), show_eta=False, id="progress")
            yield Static("", id="run-label")
        with Horizontal(id="run-body"):
            yield StepList(id="run-steps")
            yield LogStream(id="run-log")
        with Vertical(id="failure"):
            yield Static("", id="failure-text")
            with Horizontal(classes="buttons"):
                yield Button("Retry (r)", id="retry", variant="warning", compact=True)
                yield Button("Skip (s)", id="skip", compact=True)
                yield Button("Quit (q)", id="quit", variant="error", compact=True)
        with Horizontal(id="run-done", classes="buttons"):
            yield Button("Continue to health ▸", id="continue", variant="success", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#failure").display = False
        self.query_one("#run-done").display = False
        planned = {st.step.id: st.status for st in (self.app.plan_states or [])}
        self.query_one(StepList).set_steps(
            [(s.id, "done" if planned.get(s.id) == "done" else "waiting") for s in self.steps]
        )
        log = self.query_one(LogStream)
        self._feed = log.feed  # the sink runs once per line: no DOM query there
        self._unsubscribe = self.engine.ctx.runner.subscribe(self._sink)
        # a full GC pass over every object the app has built stalls the UI 50-150 ms mid-stream;
        # those objects live while the run does, so move them out of the collector's sight until then
        gc.freeze()
        self.call_after_refresh(self.launch, True)  # the screen is drawn before the first step starts

    def on_unmount(self) -> None:
        gc.unfreeze()  # the freeze is the run's: what the process builds later is collected as usual
        if self._unsubscribe:
            self._unsubscribe()

    def _sink(self, line: str) -> None:  # the runner's worker thread
        self._feed(line)

    # ---------------------------------------------------------------- the worker
    def launch(self, first: bool = False) -> None:
        self.failed = None
        self.query_one("#failure").display = False
        self.refresh_bindings()
        self.run_worker(lambda: self._drive(first), thread=True, exclusive=True, group="install")

    def _drive(self, first: bool = False) -> None:
        if first:  # the replayable answers, saved as the run starts (atomic + fsync: not on the UI thread)
            saved = self.app.save_answers()
            if saved:
                self._feed(f"answers saved to {saved} (replay: jeg-wizard install --unattended {saved})")
        index = {s.id: i for i, s in enumerate(self.steps)}

        def report(event: str, st) -> None:  # from the step threads: post_message is thread-safe
            if event == "start":
                self.post_message(StepStarted(index[st.step.id]))
            elif event == "finish":
                self.post_message(StepEnded(index[st.step.id], st.status))

        finished = {sid for sid, status in self.status.items() if status in ("ok", "done", "skipped")}
        self.engine.listeners.append(report)
        try:
            self.engine.run(self.steps, finished, stop=lambda: self.app.stopping)
        except StepFailed as e:
            self.post_message(StepBroke(index[e.state.step.id], e.state.error, list(e.state.tail)))
            return
        except Exception as e:  # noqa: BLE001 - reported like a failed step
            first_left = next(i for i, s in enumerate(self.steps) if s.id not in finished)
            self.post_message(StepBroke(first_left, f"{type(e).__name__}: {e}", []))
            return
        finally:
            self.engine.listeners.remove(report)
        if self.app.stopping:
            return
        self.engine.mark_verified()  # a run with no step skipped: the next one with nothing to change only looks
        self.engine.release()
        self.post_message(RunEnded())

    # ---------------------------------------------------------------- worker reports
    def _label(self, text: str | Text) -> None:
        self.query_one("#run-label", Static).update(text)

    def _running_label(self) -> None:
        names = ", ".join(self.steps[i].id for i in sorted(self.running))
        ended = sum(1 for status in self.status.values() if status != "running")
        self._label(f"{ended}/{len(self.steps)} steps done; running: {names}" if names else "")

    def on_step_started(self, msg: StepStarted) -> None:
        step = self.steps[msg.index]
        self.running[msg.index] = self.app.wiring.clock()
        self.status[step.id] = "running"
        steps = self.query_one(StepList)
        steps.set_status(step.id, "running")
        steps.move_cursor(row=msg.index)
        self._running_label()

    def on_step_ended(self, msg: StepEnded) -> None:
        step = self.steps[msg.index]
        now = self.app.wiring.clock()
        secs = now - self.running.pop(msg.index, now)
        self.status[step.id], self.seconds[step.id] = msg.status, secs
        self.query_one(StepList).set_status(step.id, msg.status, secs)
        if msg.status != "failed":  # a failed one beside the first failure: marked, not counted
            self.query_one(ProgressBar).advance(1)
        self._running_label()

    def on_step_broke(self, msg: StepBroke) -> None:
        step = self.steps[msg.index]
        secs = self.seconds.get(step.id, 0.0)
        self.running.clear()
        self.status[step.id] = "failed"
        self.failed = msg.index
        self.query_one(StepList).set_status(step.id, "failed", secs)
        self.query_one(LogStream).flush()
        first = msg.error.splitlines()[0] if msg.error else "(no message)"
        head = Text.assemble((f"✗ step {step.id} failed: ", "bold red"), first)
        # the command's own last lines, without the engine's summary of the same failure
        tail = [ln for ln in msg.tail if not ln.startswith("!! ") and ln.strip() != first.strip()][-TAIL:]
        lines = [head] + [Text(f"  {ln}", style="dim") for ln in tail]
        advice = Text.assemble(("Hint: ", "bold"), hint(msg.error + "\n" + "\n".join(msg.tail)))
        if not step.skippable:
            advice.append("  (this step cannot be skipped)", style="italic")
        lines.append(advice)
        ctx = self.engine.ctx
        log = ctx.layout.step_log(step.id) if ctx.step_logs else ctx.layout.install_log
        lines.append(Text.assemble(("Full log: ", "bold"), "(dry run: none)" if ctx.dry_run else str(log)))
        t = Text("\n").join(lines)
        t.no_wrap, t.overflow = True, "ellipsis"  # one screen line each: the buttons stay in view
        self.query_one("#failure-text", Static).update(t)
        self.query_one("#failure").display = True
        log = self.query_one(LogStream)
        self.call_after_refresh(log.scroll_end, animate=False)  # the log just got shorter: keep its end in view
        self.query_one("#skip", Button).disabled = not step.skippable
        self.query_one("#retry", Button).focus()
        self._label(Text(f"stopped at step {msg.index + 1}/{len(self.steps)}: {step.id}", style="bold red"))
        self.refresh_bindings()

    def on_run_ended(self, msg: RunEnded) -> None:
        self.done = True
        self.running.clear()
        self.app.run_status = dict(self.status)
        self.query_one(LogStream).flush()
        worked = sum(1 for s in self.status.values() if s == "ok")
        skipped = [sid for sid, s in self.status.items() if s == "skipped"]
        text = f"complete: {worked} did work, {len(self.steps) - worked - len(skipped)} already done"
        if skipped:
            text += f", {len(skipped)} skipped"
        self._label(Text(text, style="bold green"))
        self.query_one("#run-done").display = True
        self.query_one("#continue", Button).focus()
        self.refresh_bindings()

    # ---------------------------------------------------------------- operator
    def check_action(self, action: str, parameters) -> bool | None:
        if action == "retry":
            return self.failed is not None
        if action == "skip":
            if self.failed is None:
                return False
            return True if self.steps[self.failed].skippable else None
        if action == "finish":
            return self.done
        return True

    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {
            "retry": self.action_retry,
            "skip": self.action_skip,
            "quit": self.action_stop,
            "continue": self.action_finish,
        }
        if event.button.id in actions:
            actions[event.button.id]()

    def action_retry(self) -> None:
        if self.failed is not None:
            self.query_one(LogStream).feed(f"-- retrying {self.steps[self.failed].id}")
            self.launch()

    def action_skip(self) -> None:
        if self.failed is None or not self.steps[self.failed].skippable:
            return
        i = self.failed
        sid = self.steps[i].id
        self.status[sid] = "skipped"
        self.query_one(StepList).set_status(sid, "skipped")
        self.query_one(ProgressBar).advance(1)
        self.query_one(LogStream).feed(f"-- skipped {sid} (run jeg-wizard again later to do it)")
        self.launch()

    def action_finish(self) -> None:
        if self.done:
            self.app.show_finish()

    def action_stop(self) -> None:
        running = self.failed is None and not self.done
        if not running:
            self.app.action_quit()
            return
        from .confirm import Confirm

        def answered(yes: bool | None) -> None:
            if yes:
                self.app.action_quit()

        self.app.push_screen(
            Confirm(
                "Stop the install now? The running command is stopped; run jeg-wizard "
                "again later to resume (finished steps are skipped)."
            ),
            answered,
        )

    def stopped_at(self) -> str | None:
        """The step a quit interrupts (for the farewell message), or None when all finished."""
        if self.done:
            return None
        i = self.failed if self.failed is not None else min(self.running, default=None)
        return self.steps[i].id if i is not None else None
