"""W3C Trace Context headers: what is read, what is refused, and what is passed on."""

from __future__ import annotations

import pytest

from plumbing.tracecontext import TraceContext

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


def test_a_valid_traceparent_is_read_with_its_state() -> None:
    context = TraceContext.parse(f"00-{TRACE}-{SPAN}-01", " congo=t61,rojo=00f067aa0ba902b7 ")
    assert context == TraceContext(TRACE, SPAN, 1, "congo=t61,rojo=00f067aa0ba902b7")
    assert context.sampled
    assert context.traceparent == f"00-{TRACE}-{SPAN}-01"
    assert context.headers() == [
        ("traceparent", f"00-{TRACE}-{SPAN}-01"),
        ("tracestate", "congo=t61,rojo=00f067aa0ba902b7"),
    ]


def test_upper_case_is_read_and_written_lower_case_and_unsampled_kept() -> None:
    context = TraceContext.parse(f"00-{TRACE.upper()}-{SPAN}-00")
    assert context is not None
    assert (context.traceparent, context.sampled, context.headers()) == (
        f"00-{TRACE}-{SPAN}-00",
        False,
        [("traceparent", f"00-{TRACE}-{SPAN}-00")],
    )


def test_a_later_version_is_read_as_version_00() -> None:
    context = TraceContext.parse(f"cc-{TRACE}-{SPAN}-01-what-the-future-adds")
    assert context is not None
    assert context.traceparent == f"00-{TRACE}-{SPAN}-01"


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "garbage",
        f"00-{TRACE}-{SPAN}",
        f"00-{'0' * 32}-{SPAN}-01",  # an all-zero trace id is invalid
        f"00-{TRACE}-{'0' * 16}-01",  # so is an all-zero span id
        f"ff-{TRACE}-{SPAN}-01",  # version ff is forbidden
        f"00-{TRACE}-{SPAN}-01-extra",  # version 00 has exactly four fields
        f"00-{TRACE[:-1]}-{SPAN}-01",
        f"00-{TRACE}-{SPAN}-0x",
        f"00-{TRACE}-{SPAN}-01\r\nX-Injected: 1",
    ],
)
def test_an_invalid_traceparent_is_ignored(value: str | None) -> None:
    assert TraceContext.parse(value, "congo=t61") is None


@pytest.mark.parametrize("state", ["caf\u00e9=1", "a=b\r\nX: y", "k=" + "v" * 600])
def test_a_tracestate_that_is_not_printable_ascii_or_too_long_is_dropped(state: str) -> None:
    context = TraceContext.parse(f"00-{TRACE}-{SPAN}-01", state)
    assert context is not None
    assert context.state == ""


def test_a_new_trace_is_sampled_and_random() -> None:
    first, second = TraceContext.start(), TraceContext.start()
    assert first.sampled
    assert TraceContext.parse(first.traceparent) == first
    assert (first.trace_id, first.span_id) != (second.trace_id, second.span_id)


def test_a_child_keeps_the_trace_its_flags_and_state() -> None:
    parent = TraceContext(TRACE, SPAN, 0, "congo=t61")
    assert parent.child("b7ad6b7169203331") == TraceContext(TRACE, "b7ad6b7169203331", 0, "congo=t61")
