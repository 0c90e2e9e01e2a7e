"""Runs ``faasq`` commands and a whole ``faasq up`` stack as subprocesses, the way a user does."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from faasq.cli import run
from faasq.context import Console, Context
from faasq.supervisor import terminate_with_parent
from tests.support.paths import ROOT
from tests.support.polling import until

EXAMPLES = ROOT / "examples" / "stack.yml"
FAASQ = [sys.executable, "-m", "faasq"]
# Never the user's ~/.openfaas credentials: a config directory the tests never create.
ENVIRON = {**os.environ, "OPENFAAS_CONFIG": str(ROOT / ".faasq" / "e2e-no-config")}


def faasq(*args: str, stdin: bytes = b"", env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run one ``faasq`` command to completion from the repository root."""
    return subprocess.run(
        [*FAASQ, *args], input=stdin, capture_output=True, env={**ENVIRON, **(env or {})}, cwd=ROOT, timeout=30
    )


BANNER_END = "Press Ctrl+C to stop."
"""The banner's last line."""


class Lines:
    """Collects a stream's lines in a thread, so a test can poll them with a deadline."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        with stream:
            for line in stream:
                self.lines.append(line.decode(errors="replace").rstrip("\n"))

    def join(self, within: float) -> None:
        """Wait for the end of the stream."""
        self._thread.join(within)


class Stack:
    """``faasq up`` on a port the kernel picks, its stdout collected line by line, its stderr in a file.

    One gateway process unless ``gateways`` says otherwise: fewer processes for a busy test machine.
    """

    def __init__(
        self,
        stack_file: Path | None,
        state_dir: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path = ROOT,
        workers: int = 0,
        gateways: int = 1,
        args: tuple[str, ...] = (),
        within: float = 40.0,
    ) -> None:
        self.stack_file = stack_file
        self.state_dir = state_dir
        self.log = state_dir / "up.stderr"
        self.ready_file = state_dir / "ready.json"
        state_dir.mkdir(parents=True, exist_ok=True)
        stack = ["-f", str(stack_file)] if stack_file is not None else []
        options = ["--port", "0", "--state-dir", str(state_dir), "--workers", str(workers)]
        options += ["--gateway-processes", str(gateways), *args]
        with self.log.open("wb") as stderr:
            self.process = subprocess.Popen(
                [*FAASQ, "up", *stack, *options, "--ready-file", str(self.ready_file)],
                stdout=subprocess.PIPE,
                stderr=stderr,
                env={**ENVIRON, **(env or {})},
                cwd=cwd,
                # A test process killed (a timeout, Ctrl+C) takes its stack down with it.
                preexec_fn=terminate_with_parent(),
            )
        assert self.process.stdout is not None
        self._stdout = Lines(self.process.stdout)
        self.lines = self._stdout.lines
        self.url = until(self._banner_url, within=within)
        self.ready: dict[str, Any] = until(self._ready, within=10)
        until(self._banner_read, within=10)  # the reading thread may still be behind the ready file

    def _banner_read(self) -> bool | None:
        return True if BANNER_END in self.lines else None

    def _ready(self) -> dict[str, Any] | None:
        return json.loads(self.ready_file.read_text()) if self.ready_file.exists() else None

    def _banner_url(self) -> str | None:
        for line in self.lines:
            if line.startswith("faasq is up: "):
                return line.removeprefix("faasq is up: ")
        if self.process.poll() is not None:
            raise AssertionError(f"faasq up exited with {self.process.returncode}:\n{self.output()}")
        return None

    def output(self) -> str:
        """What ``faasq up`` printed so far, stdout then the end of stderr."""
        return "\n".join(self.lines) + "\n--- stderr ---\n" + self.log.read_text(errors="replace")[-4000:]

    def cli(self, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        """Run a ``faasq`` command as a subprocess against this stack (through ``OPENFAAS_URL``)."""
        return faasq(*args, stdin=stdin, env={"OPENFAAS_URL": self.url})

    def run(self, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        """Run a ``faasq`` command in this process, over real HTTP: the same code, without interpreter start-up."""
        out, err = io.BytesIO(), io.BytesIO()
        console = Console(stdin=io.BytesIO(stdin), stdout=out, stderr=err)
        code = run(list(args), Context(console=console, environ={**ENVIRON, "OPENFAAS_URL": self.url}))
        return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())

    def close(self) -> None:
        """Stop gracefully (a killed ``faasq up`` would leave its children running); kill it if that times out."""
        try:
            self.stop()
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def stop(self, signum: int = signal.SIGTERM, within: float = 30.0) -> int:
        """Signal ``faasq up`` and wait for it to exit; returns its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        code = self.process.wait(within)
        self._stdout.join(within)
        return code
