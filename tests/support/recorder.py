"""The fault tests' function: an http-mode upstream that writes down every run before answering.

Each request appends its ``X-Call-Id`` and a newline to the file ``$RUNS`` in one ``O_APPEND``
write, so lines from concurrent runs never mix and a test can count runs per call id.
It sleeps ``X-Sleep`` seconds if the request carries that header, then echoes the body; with
``FAIL_RATE`` set, about that fraction of its runs answers 503 instead: which ones is decided by
:func:`failing` from the call id and the attempt (``X-Retry``), so a test knows the outcome of
every run in advance. Standard library only: the watchdog runs it by its file path, with
``python -P`` so that its neighbours in ``tests/support/`` stay off its ``sys.path``.
"""

import hashlib
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Recorder(BaseHTTPRequestHandler):
    """Records the call id, then echoes the body (or fails on purpose)."""

    protocol_version = "HTTP/1.1"

    def _run(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        call_id, attempt = self.headers.get("X-Call-Id", "-"), int(self.headers.get("X-Retry") or 1)
        record(os.environ["RUNS"], call_id)
        time.sleep(float(self.headers.get("X-Sleep") or 0))
        fails = failing(call_id, attempt, float(os.environ.get("FAIL_RATE") or 0))
        if fails:
            body = b"failing this run on purpose\n"
        self.send_response(503 if fails else 200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _run  # noqa: N815 - http.server's naming

    def log_message(self, format: str, *args: object) -> None:
        pass  # a line per call would flood the provider's log


def failing(call_id: str, attempt: int, rate: float) -> bool:
    """Whether run ``attempt`` of ``call_id`` fails: a hash of both, compared with ``rate``."""
    digest = hashlib.sha256(f"{call_id}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < rate * 2**64


def record(path: str, call_id: str) -> None:
    """Append one line to ``path`` atomically (one write on an ``O_APPEND`` descriptor)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{call_id}\n".encode())
    finally:
        os.close(fd)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    with ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Recorder) as server:
        server.daemon_threads = True
        server.serve_forever()


if __name__ == "__main__":
    main()
