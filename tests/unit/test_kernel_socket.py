"""health's kernel client: a job's output is read whatever order the kernel sends it in (Toree publishes its
result after its idle status and its reply), and a kernel that says nothing more ends at the deadline."""

import json
import time

import pytest

from jeg_wizard import health


class Socket:
    """The gateway's websocket: the messages a kernel sends, each answering the last request sent."""

    def __init__(self, messages):
        self.messages, self.sent = list(messages), []

    def send(self, raw):
        self.sent.append(json.loads(raw))

    def recv(self, timeout=None):
        if not self.messages:
            time.sleep(min(timeout, 0.05))
            raise TimeoutError
        msg_type, content = self.messages.pop(0)
        parent = self.sent[-1]["header"]["msg_id"]
        return json.dumps({"msg_type": msg_type, "content": content, "parent_header": {"msg_id": parent}})


BUSY = ("status", {"execution_state": "busy"})
IDLE = ("status", {"execution_state": "idle"})
REPLY = ("execute_reply", {"status": "ok", "execution_count": 1})
RESULT = ("execute_result", {"data": {"text/plain": "res0: Long = 1000"}, "execution_count": 1})


def kernel(messages, seconds=30.0):
    ks = health._KernelSocket("http://127.0.0.1:1", "k", time.monotonic() + seconds, {})
    ks.ws = Socket(messages)
    return ks


@pytest.mark.parametrize(
    "order",
    [
        [BUSY, RESULT, REPLY, IDLE],  # the protocol's order (ipykernel)
        [BUSY, IDLE, REPLY, RESULT],  # Toree's, seen in the e2e test: '' was read before
        [BUSY, REPLY, IDLE, RESULT],
    ],
)
def test_the_result_is_read_in_any_order(order):
    assert kernel(order).execute("spark.range(1000).count()") == "res0: Long = 1000"


def test_no_wait_once_the_result_idle_and_reply_are_in():
    t0 = time.monotonic()
    assert kernel([BUSY, RESULT, IDLE, REPLY, ("stream", {"name": "stdout", "text": "later"})]).execute("x") == (
        "res0: Long = 1000"
    )
    assert time.monotonic() - t0 < health.LATE_RESULT / 2


def test_a_job_with_no_output_ends_after_the_short_wait(monkeypatch):
    monkeypatch.setattr(health, "LATE_RESULT", 0.3)
    t0 = time.monotonic()
    assert kernel([BUSY, IDLE, REPLY]).execute("val x = 1") == ""
    assert 0.3 <= time.monotonic() - t0 < 5


def test_an_error_only_in_the_reply_is_raised():
    err = ("execute_reply", {"status": "error", "ename": "NameError", "evalue": "spark"})
    with pytest.raises(health.HealthError, match="NameError: spark.*SPARK_HOME"):
        kernel([BUSY, IDLE, err]).execute("spark.range(1000).count()")


def test_a_silent_kernel_ends_at_the_deadline():
    with pytest.raises(health.HealthError, match="did not answer before the deadline"):
        kernel([BUSY], seconds=0.3).execute("spark.range(1000).count()")
