"""An http-mode function: a long-lived stdlib HTTP server that the watchdog proxies every call to.

It listens on 127.0.0.1:$PORT (the port in the watchdog's ``upstream_url``) and answers any
method with the request body, or ``<METHOD> <path>`` when there is none.
"""

import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Echo(BaseHTTPRequestHandler):
    """Echoes the body back with its Content-Type."""

    protocol_version = "HTTP/1.1"

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else f"{self.command} {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", self.headers.get("Content-Type") or "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", "http-echo")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _echo  # noqa: N815 - http.server's naming

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"http-echo: {format % args}\n")


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "5050"))), Echo)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    sys.stderr.write(f"http-echo: listening on {server.server_address[0]}:{server.server_address[1]}\n")
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
