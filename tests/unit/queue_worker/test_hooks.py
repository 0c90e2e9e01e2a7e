from __future__ import annotations

from dataclasses import dataclass, field

from calls.deadletters import Kind
from calls.outcome import Attempt, Outcome
from calls.retry_decision import Ack
from calls.wire import QueuedCall
from queue_worker.hooks import HookChain, WorkerHooks

CALL = QueuedCall("call-1", "fn", "ns")
FIRST = Attempt(1, 3)


@dataclass
class Recorder(WorkerHooks):
    name: str
    log: list[str]
    allow: bool = True
    seen: list[str] = field(default_factory=list)

    async def startup(self) -> None:
        self.log.append(f"{self.name}.startup")

    async def shutdown(self) -> None:
        self.log.append(f"{self.name}.shutdown")

    async def call_started(self, call: QueuedCall, attempt: Attempt) -> bool:
        self.log.append(f"{self.name}.started")
        return self.allow

    async def callback_failed(self, call: QueuedCall, attempt: Attempt, outcome: Outcome, reason: str) -> None:
        self.log.append(f"{self.name}.callback_failed:{reason}")

    async def call_finished(self, call: QueuedCall, attempt: Attempt, outcome: Outcome, verdict: object) -> None:
        self.log.append(f"{self.name}.finished")

    async def dead_letter(
        self, call: QueuedCall, attempt: Attempt, outcome: Outcome, reason: str, kind: Kind | None = None
    ) -> None:
        self.log.append(f"{self.name}.dead_letter:{reason}")


async def test_the_default_hooks_allow_every_call_and_do_nothing() -> None:
    hooks = WorkerHooks()
    await hooks.startup()
    assert await hooks.call_started(CALL, FIRST) is True
    await hooks.callback_failed(CALL, FIRST, Outcome(200), "down")
    await hooks.call_finished(CALL, FIRST, Outcome(200), Ack())
    await hooks.dead_letter(CALL, FIRST, Outcome(500), "HTTP 500 after 1 attempts")
    await hooks.shutdown()


async def test_a_chain_runs_its_hooks_in_order_and_shuts_them_down_in_reverse() -> None:
    log: list[str] = []
    chain = HookChain([Recorder("a", log), Recorder("b", log)])
    await chain.startup()
    assert await chain.call_started(CALL, FIRST) is True
    await chain.callback_failed(CALL, FIRST, Outcome(200), "down")
    await chain.call_finished(CALL, FIRST, Outcome(200), Ack())
    await chain.dead_letter(CALL, FIRST, Outcome(500), "why")
    await chain.shutdown()
    assert log == [
        "a.startup", "b.startup", "a.started", "b.started",
        "a.callback_failed:down", "b.callback_failed:down", "a.finished", "b.finished",
        "a.dead_letter:why", "b.dead_letter:why", "b.shutdown", "a.shutdown",
    ]  # fmt: skip


async def test_one_refusal_skips_the_call_and_the_hooks_after_it() -> None:
    log: list[str] = []
    chain = HookChain([Recorder("a", log, allow=False), Recorder("b", log)])
    assert await chain.call_started(CALL, FIRST) is False
    assert log == ["a.started"]
