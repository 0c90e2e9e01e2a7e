"""A callback receiver for trying async calls: prints each POST's headers and body, answers 200.

Run: ``python3 examples/callback_receiver.py [PORT]`` (default 9000, on 127.0.0.1).
"""

from __future__ import annotations

import contextlib
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        lines = [f"POST {self.path}", *(f"{name}: {value}" for name, value in self.headers.items())]
        sys.stdout.write("\n".join([*lines, "", body.decode(errors="replace"), "-" * 40, ""]))
        sys.stdout.flush()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: each request is printed whole by do_POST."""


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    server = ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    sys.stdout.write(f"listening on http://127.0.0.1:{server.server_address[1]}/ (Ctrl+C to stop)\n")
    sys.stdout.flush()
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
