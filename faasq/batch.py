"""``faasq batch NAME FILE``: submit a batch, follow its progress; ``faasq batch status|cancel BATCH_ID``.

The file is streamed to ``POST /async-batches/<name>`` as it is read, never loaded whole;
progress is one line on stderr, rewritten in place. The options are in the README's Batches.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from faasq.client import Gateway, decode
from faasq.context import Context, add_gateway_options
from faasq.errors import CliError

__all__ = ["content_type_of", "progress_line", "register"]

_CHUNK = 64 * 1024
_STATES = ("succeeded", "failed", "dead", "cancelled", "running", "retrying", "queued")
_QUIET_EVERY = 5.0  # seconds between progress lines when stderr is not a terminal


def content_type_of(path: str, first: bytes, *, lines: bool) -> str:
    """The ``Content-Type`` to send ``path`` with, from ``--lines``, its suffix, or its first bytes."""
    suffix = Path(path).suffix.lower()
    if lines or suffix in (".csv", ".txt"):
        return "text/plain"
    if suffix in (".ndjson", ".jsonl"):
        return "application/x-ndjson"
    if suffix == ".json" or first.lstrip()[:1] == b"[":
        return "application/json"
    return "application/x-ndjson"


def progress_line(batch: dict[str, Any], rate: float | None) -> str:
    """``<id>: 1200/2000 done (60.0%) | succeeded 1180, failed 20, running 8 | 410/s``."""
    counts: dict[str, int] = batch.get("counts", {})
    states = ", ".join(f"{state} {counts[state]}" for state in _STATES if counts.get(state))
    percent = 100.0 * batch.get("progress", 0.0)
    line = f"{batch['batch_id']}: {batch.get('done', 0)}/{batch.get('total', 0)} done ({percent:.1f}%)"
    line += f" | {states}" if states else ""
    return line + (f" | {rate:.0f}/s" if rate is not None else "")


def _chunks(stream: IO[bytes], first: bytes) -> Iterator[bytes]:
    yield first
    while chunk := stream.read(_CHUNK):
        yield chunk


def _path(batch_id: str) -> str:
    return f"/async-batches/{quote(batch_id, safe='')}"


def _submit(gateway: Gateway, args: argparse.Namespace, stream: IO[bytes]) -> dict[str, Any]:
    first = stream.read(_CHUNK)
    headers = {"Content-Type": content_type_of(args.file, first, lines=args.lines)}
    for flag, header in (("callback_url", "X-Callback-Url"), ("batch_callback_url", "X-Batch-Callback-Url")):
        if value := getattr(args, flag):
            headers[header] = value
    if args.batch_id:
        headers["X-Batch-Id"] = args.batch_id
    target = f"{args.name}.{args.namespace}" if args.namespace else args.name
    path = f"/async-batches/{quote(target, safe='.')}"
    response = gateway.request("POST", path, content=_chunks(stream, first), headers=headers)
    return decode(response, dict[str, Any])


class _Progress:
    """Shows a batch's progress on stderr: in place on a terminal, else a line now and then."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._tty = ctx.console.stderr.isatty()
        self._last: tuple[float, int] | None = None
        self._shown = 0.0

    def show(self, batch: dict[str, Any], *, final: bool = False) -> None:
        now, done = time.monotonic(), int(batch.get("done", 0))
        rate = (done - self._last[1]) / (now - self._last[0]) if self._last and now > self._last[0] else None
        if final and batch.get("duration"):
            rate = done / batch["duration"]  # the whole batch's, from its acceptance to its last item
        self._last = (now, done)
        line = progress_line(batch, rate)
        if self._tty:
            self._ctx.console.err(f"\r\x1b[2K{line}".encode() + (b"\n" if final else b""))
        elif final or now - self._shown >= _QUIET_EVERY:
            self._shown = now
            self._ctx.console.err(line)


def _follow(gateway: Gateway, batch_id: str, ctx: Context, interval: float) -> dict[str, Any]:
    progress = _Progress(ctx)
    while True:
        batch = decode(gateway.request("GET", _path(batch_id)), dict[str, Any])
        if "finished_at" in batch:
            progress.show(batch, final=True)
            return batch
        progress.show(batch)
        time.sleep(interval)


def _write_results(gateway: Gateway, batch: dict[str, Any], out: Path) -> int:
    """One line per item, in input order; how many carried a result."""
    kept = 0
    with out.open("w") as sink:
        for index in range(batch["total"]):
            call_id = f"{batch['batch_id']}-{index}"
            response = gateway.request("GET", f"/async-calls/{quote(call_id, safe='')}", accept=range(100, 600))
            record: dict[str, Any] = response.json() if response.status_code == 200 else {"state": "unknown"}
            line = {"index": index, "call_id": call_id} | {
                key: record[key] for key in ("state", "status_code", "reason", "result") if key in record
            }
            kept += "result" in record
            sink.write(json.dumps(line, separators=(",", ":")) + "\n")
    return kept


def run_batch(args: argparse.Namespace, ctx: Context) -> int:
    if args.name in ("status", "cancel") and not Path(args.file).exists():
        return (run_status if args.name == "status" else run_cancel)(args.file, args, ctx)
    with ctx.gateway(args, timeout=None) as gateway:
        with nullcontext(ctx.console.stdin) if args.file == "-" else _open(args.file) as stream:
            submitted = _submit(gateway, args, stream)
        batch_id = submitted["batch_id"]
        ctx.console.out(f"Batch {batch_id}: {submitted['total']} calls to {submitted['function']} queued.")
        if args.detach:
            return 0
        try:
            batch = _follow(gateway, batch_id, ctx, args.interval)
        except KeyboardInterrupt:
            ctx.console.err(f"\nBatch {batch_id} goes on running; follow it with: faasq batch status {batch_id}")
            return 130
        if args.out is not None and _write_results(gateway, batch, args.out) < batch["total"]:
            ctx.console.err("some items have no result: workers keep results with status_result_bytes > 0")
    failed = batch["counts"]["failed"] + batch["counts"]["dead"]
    return 1 if args.wait and failed else 0


def _open(path: str) -> IO[bytes]:
    try:
        return Path(path).open("rb")
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None


def run_status(batch_id: str, args: argparse.Namespace, ctx: Context) -> int:
    with ctx.gateway(args) as gateway:
        batch = decode(gateway.request("GET", _path(batch_id)), dict[str, Any])
    ctx.console.out(json.dumps(batch, indent=2) if args.json else progress_line(batch, None))
    if not args.json and "finished_at" in batch:
        ctx.console.out(f"finished at {batch['finished_at']} after {batch.get('duration', 0):g}s")
    return 0


def run_cancel(batch_id: str, args: argparse.Namespace, ctx: Context) -> int:
    with ctx.gateway(args) as gateway:
        batch = decode(gateway.request("DELETE", _path(batch_id)), dict[str, Any])
    ctx.console.out(f"Batch {batch_id}: {batch['cancelled']} items cancelled; the others had started or finished.")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``batch`` to the command line."""
    parser = add_gateway_options(
        commands.add_parser(
            "batch",
            help="submit a batch of async calls and follow it (or: batch status|cancel BATCH_ID)",
            description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )
    parser.add_argument("name", metavar="NAME", help="the function (or 'status' / 'cancel' with a BATCH_ID)")
    parser.add_argument("file", metavar="FILE", help="the items ('-': stdin), or the BATCH_ID")
    parser.add_argument("--lines", action="store_true", help="one item a line, sent as is (CSV rows, text)")
    parser.add_argument("--callback-url", help="X-Callback-Url: receives each item's result")
    parser.add_argument("--batch-callback-url", help="X-Batch-Callback-Url: receives the summary once all are done")
    parser.add_argument("--batch-id", help="choose the batch id (resending with it queues no item twice)")
    parser.add_argument("--wait", action="store_true", help="exit 1 if any item failed or was dead-lettered")
    parser.add_argument("--out", type=Path, help="write each item's status and result, in input order, as NDJSON")
    parser.add_argument("--detach", action="store_true", help="print the batch id and exit, without following")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between progress polls (default 0.5)")
    parser.add_argument("--json", action="store_true", help="batch status: print the record as JSON")
    parser.set_defaults(run=run_batch)
