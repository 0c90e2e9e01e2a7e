"""The autoscaler of a whole ``faasq up`` stack: replicas follow the backlog, the invocation rate and idleness.

The functions carry OpenFaaS's scaling labels; the stack runs with shorter windows than the
defaults (2 s ticks, 5 s before typed modes scale down) so each scenario takes seconds.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.callbacks import Receiver, serving
from tests.support.polling import until
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

STACK = """\
provider: {name: openfaas}
functions:
  backlog:
    fprocess: sh -c 'sleep 5; cat'
    labels:
      com.openfaas.scale.min: "1"
      com.openfaas.scale.max: "4"
      com.openfaas.scale.type: queue
      com.openfaas.scale.target: "5"
  busy:
    fprocess: cat
    labels:
      com.openfaas.scale.min: "1"
      com.openfaas.scale.max: "2"
  pinned:
    fprocess: cat
    labels:
      com.openfaas.scale.min: "2"
      com.openfaas.scale.max: "2"
  sleepy:
    fprocess: cat
    labels:
      com.openfaas.scale.zero: "true"
      com.openfaas.scale.zero-duration: 10s
"""


@dataclass
class Scaled:
    stack: Stack
    http: httpx.Client
    receiver: Receiver
    callback: str

    def replicas(self, name: str) -> int:
        status = self.http.get(f"/system/function/{name}")
        assert status.status_code == 200, status.text
        replicas: int = status.json()["replicas"]
        return replicas

    def reaches(self, name: str, test: str, count: int, within: float) -> float:
        """Seconds until ``name`` has ``test`` ``count`` replicas (``>=``, ``==``)."""
        started = time.monotonic()

        def reached() -> bool | None:
            now = self.replicas(name)
            return True if (now >= count if test == ">=" else now == count) else None

        until(reached, within=within, every=0.5, what=f"{name} at {test} {count} replicas")
        return time.monotonic() - started


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scaled]:
    folder = tmp_path_factory.mktemp("scaled")
    (folder / "stack.yml").write_text(STACK)
    receiver = Receiver()
    with serving(receiver) as callback:
        env = {**os.environ, "scale_interval": "1s", "scale_down_window": "5s", "max_inflight": "128"}
        stack = Stack(folder / "stack.yml", folder / "state", env=env, workers=2)
        try:
            with httpx.Client(base_url=stack.url, timeout=30) as http:
                yield Scaled(stack, http, receiver, callback)
        finally:
            stack.close()


def test_a_backlog_scales_a_queue_mode_function_before_its_calls_run_and_back_to_min(
    scaled: Scaled, record_property: Callable[[str, object], None]
) -> None:
    ids, started = [], time.monotonic()
    for n in range(400):
        accepted = scaled.http.post(
            "/async-function/backlog", content=f"{n}", headers={"X-Callback-Url": f"{scaled.callback}/cb"}
        )
        assert accepted.status_code == 202
        ids.append(accepted.headers["x-call-id"])
    scaled.reaches("backlog", ">=", 3, within=45 - (time.monotonic() - started))
    record_property("measured", f"backlog of 400: 3 replicas {time.monotonic() - started:.1f}s after the first call")
    until(lambda: True if set(ids) <= set(scaled.receiver.by_call_id()) else None, within=120, what="400 callbacks")
    down = scaled.reaches("backlog", "==", 1, within=60)
    record_property("measured", f"back to min {down:.1f}s after the last callback")


def test_the_invocation_rate_rule_scales_up_and_back_and_min_equal_to_max_stays_put(
    scaled: Scaled, record_property: Callable[[str, object], None]
) -> None:
    stop = threading.Event()

    def load() -> None:  # about 10 sync calls a second to each function
        with httpx.Client(base_url=scaled.stack.url, timeout=30) as http:
            while not stop.is_set():
                for name in ("busy", "pinned"):
                    assert http.post(f"/function/{name}", content=b"x").status_code == 200
                stop.wait(0.1)

    loader = threading.Thread(target=load)
    loader.start()
    try:
        up = scaled.reaches("busy", "==", 2, within=60)
        assert scaled.replicas("pinned") == 2
    finally:
        stop.set()
        loader.join()
    record_property("measured", f"busy: 2 replicas after {up:.1f}s of load")
    down = scaled.reaches("busy", "==", 1, within=60)
    record_property("measured", f"busy: back to 1 replica {down:.1f}s after the load stopped")
    assert scaled.replicas("pinned") == 2


def test_an_idle_zero_enabled_function_goes_to_zero_and_an_async_call_still_completes(scaled: Scaled) -> None:
    scaled.reaches("sleepy", "==", 0, within=60)
    accepted = scaled.http.post(
        "/async-function/sleepy", content=b"wake", headers={"X-Callback-Url": f"{scaled.callback}/cb"}
    )
    assert accepted.status_code == 202
    call_id = accepted.headers["x-call-id"]
    [callback] = until(lambda: scaled.receiver.by_call_id().get(call_id), within=60, what="the callback")
    assert (callback.headers["x-function-status"], callback.body) == ("200", b"wake")
    assert scaled.replicas("sleepy") >= 1
