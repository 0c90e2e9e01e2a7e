"""Flow control on a whole ``faasq up`` stack with three worker processes: limits, backpressure, pauses, delays.

Each limited function prints when its run started and ended (``date +%s.%N``), so the
callbacks alone tell how many runs overlapped, across every worker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.callbacks import Callback, Receiver, serving
from tests.support.polling import until
from tests.support.sockets import bound_socket
from tests.support.stack import Stack, faasq

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

SPAN = "sh -c 'a=$(date +%s.%N); sleep 0.3; echo $a $(date +%s.%N)'"
"""A run of 0.3 s that answers its start and end times."""

STACK = f"""\
provider: {{name: openfaas}}
functions:
  narrow:
    fprocess: sh -c 'sleep 0.05; cat'
    environment: {{max_inflight: "2"}}
  three:
    fprocess: {SPAN}
    annotations: {{com.faasq.concurrency: "3"}}
  keyed:
    fprocess: {SPAN}
    annotations: {{com.faasq.concurrency-per-key: "1"}}
  rated:
    fprocess: date +%s.%N
    annotations: {{com.faasq.rate: 5/s}}
  held:
    fprocess: cat
  single:
    fprocess: sh -c 'date +%s.%N; sleep 0.05'
    annotations: {{com.faasq.concurrency: "1", com.faasq.priority: low}}
"""


@dataclass
class Flow:
    stack: Stack
    http: httpx.Client
    receiver: Receiver
    callback: str

    def send(self, function: str, count: int, headers: dict[str, str] | None = None) -> list[str]:
        """``count`` async calls; their call ids."""
        ids = []
        for n in range(count):
            accepted = self.http.post(
                f"/async-function/{function}",
                content=f"{n}",
                headers={"X-Callback-Url": f"{self.callback}/cb", **(headers or {})},
            )
            assert accepted.status_code == 202, accepted.text
            ids.append(accepted.headers["x-call-id"])
        return ids

    def answers(self, ids: list[str], within: float) -> list[Callback]:
        """One callback for each of ``ids`` (exactly one each), once all have come."""

        def arrived() -> dict[str, list[Callback]] | None:
            got = self.receiver.by_call_id()
            return got if all(call_id in got for call_id in ids) else None

        got = until(arrived, within=within, every=0.2, what=f"{len(ids)} callbacks")
        assert all(len(got[call_id]) == 1 for call_id in ids), "a call was called back more than once"
        return [got[call_id][0] for call_id in ids]


def spans(callbacks: list[Callback]) -> list[tuple[float, float]]:
    """Each run's start and end, from its answer."""
    assert all(c.headers["x-function-status"] == "200" for c in callbacks), [c.body for c in callbacks]
    return [(float(a), float(b)) for a, b in (c.body.split() for c in callbacks)]


def most_at_once(runs: list[tuple[float, float]]) -> int:
    """The most runs under way at one moment."""
    edges = sorted([(start, 1) for start, _ in runs] + [(end, -1) for _, end in runs])
    now = most = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


@pytest.fixture(scope="module")
def flow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flow]:
    folder = tmp_path_factory.mktemp("flow")
    (folder / "stack.yml").write_text(STACK)
    receiver = Receiver()
    with serving(receiver) as callback:
        stack = Stack(folder / "stack.yml", folder / "state", workers=3)
        try:
            with httpx.Client(base_url=stack.url, timeout=30) as http:
                yield Flow(stack, http, receiver, callback)
        finally:
            stack.close()


def test_200_calls_to_a_function_whose_watchdog_allows_2_at_a_time_all_succeed(flow: Flow) -> None:
    ids = flow.send("narrow", 200)
    callbacks = flow.answers(ids, within=120)
    assert [c.headers["x-function-status"] for c in callbacks] == ["200"] * 200
    assert sorted(int(c.body) for c in callbacks) == list(range(200))
    dead = flow.http.get("/system/dead-letters", params={"function": "narrow"})
    assert (dead.status_code, dead.json()["items"]) == (200, []), dead.text


def test_a_concurrency_3_function_never_runs_more_than_3_at_once_across_workers(flow: Flow) -> None:
    runs = spans(flow.answers(flow.send("three", 24), within=60))
    assert most_at_once(runs) == 3, sorted(runs)


def test_calls_of_one_concurrency_key_never_overlap_while_other_keys_run_alongside(flow: Flow) -> None:
    tenants = {key: flow.send("keyed", 6, {"X-Concurrency-Key": key}) for key in ("acme", "zenith / 42")}
    runs = {key: spans(flow.answers(ids, within=60)) for key, ids in tenants.items()}
    assert [most_at_once(each) for each in runs.values()] == [1, 1]
    assert most_at_once(runs["acme"] + runs["zenith / 42"]) == 2


def test_a_rate_of_5_a_second_spreads_40_calls_over_at_least_6_seconds(flow: Flow) -> None:
    starts = sorted(float(c.body) for c in flow.answers(flow.send("rated", 40), within=60))
    assert starts[-1] - starts[0] >= 6, starts
    assert max(b - a for a, b in zip(starts, starts[5:], strict=False)) < 3  # spread, not stalled


def test_high_priority_calls_sent_behind_40_low_ones_start_before_most_of_them(flow: Flow) -> None:
    low = flow.send("single", 40)  # low by the function's annotation
    high = flow.send("single", 5, {"X-Priority": "High"})
    ids = low + high
    started = dict(zip(ids, (float(c.body) for c in flow.answers(ids, within=60)), strict=True))
    for call_id in high:
        after = sum(started[other] > started[call_id] for other in low)
        assert after >= 25, f"{40 - after} of the 40 low calls started before high call {call_id}"


def test_a_paused_function_keeps_its_calls_until_resumed(flow: Flow) -> None:
    assert faasq("pause", "held", "-g", flow.stack.url).returncode == 0
    ids = flow.send("held", 5)

    def all_paused() -> bool | None:
        states = {flow.http.get(f"/async-calls/{call_id}").json()["state"] for call_id in ids}
        return True if states == {"paused"} else None

    until(all_paused, within=20, what="5 calls paused")
    assert flow.http.get("/system/async-functions/held").json()["paused"] is True
    assert not set(ids) & set(flow.receiver.by_call_id())
    resumed = faasq("resume", "held", "-g", flow.stack.url)
    assert (resumed.returncode, resumed.stdout) == (0, b"Async calls of held resumed.\n")
    callbacks = flow.answers(ids, within=20)
    assert sorted(c.body for c in callbacks) == [b"0", b"1", b"2", b"3", b"4"]


def test_300_calls_whose_callback_host_never_answers_do_not_hold_up_an_ordinary_call(flow: Flow) -> None:
    with bound_socket() as silent:  # listens, never accepts: every POST to it hangs until its timeout
        unreachable = f"http://127.0.0.1:{silent.getsockname()[1]}/cb"
        stuck = [
            flow.http.post("/async-function/held", content=b"x", headers={"X-Callback-Url": unreachable})
            for _ in range(300)
        ]
        assert {answer.status_code for answer in stuck} == {202}
        ids = [answer.headers["x-call-id"] for answer in stuck]

        def all_ran() -> bool | None:
            states = {flow.http.get(f"/async-calls/{call_id}").json()["state"] for call_id in ids}
            return True if states == {"succeeded"} else None

        until(all_ran, within=60, every=1, what="300 calls run, their callbacks pending")
        sent = time.monotonic()  # 300 callbacks are being tried now, none answered
        (ordinary,) = flow.send("held", 1)
        flow.answers([ordinary], within=10)
        assert time.monotonic() - sent < 2


def test_pausing_an_unknown_function_is_a_404(flow: Flow) -> None:
    answer = flow.http.post("/system/async-functions/nothing-here/pause")
    assert answer.status_code == 404, answer.text


def test_a_delayed_call_starts_after_its_delay_and_survives_a_restart_of_the_whole_stack(tmp_path: Path) -> None:
    (tmp_path / "stack.yml").write_text("provider: {name: openfaas}\nfunctions:\n  clock: {fprocess: date +%s.%N}\n")
    receiver = Receiver()
    with serving(receiver) as callback:
        stack = Stack(tmp_path / "stack.yml", tmp_path / "state", workers=1)
        try:
            headers = {"X-Callback-Url": f"{callback}/cb"}
            with httpx.Client(base_url=stack.url, timeout=30) as http:
                sent = time.time()
                soon = http.post("/async-function/clock", headers=headers | {"X-Delay": "4s"})
                late = http.post("/async-function/clock", headers=headers | {"X-Delay": "12s"})
            assert (soon.status_code, late.status_code) == (202, 202)
            first = until(lambda: receiver.by_call_id().get(soon.headers["x-call-id"]), within=20)
            assert float(first[0].body) - sent >= 4
        finally:
            stack.close()
        assert late.headers["x-call-id"] not in receiver.by_call_id()
        again = Stack(tmp_path / "stack.yml", tmp_path / "state", workers=1)
        try:
            (after,) = until(lambda: receiver.by_call_id().get(late.headers["x-call-id"]), within=30)
            assert float(after.body) - sent >= 12
            with httpx.Client(base_url=again.url, timeout=30) as http:
                record = http.get(f"/async-calls/{late.headers['x-call-id']}").json()
            assert record["state"] == "succeeded", record
        finally:
            again.close()
