"""Children for the supervisor's tests: small Python programs it starts as real processes."""

from __future__ import annotations

# Serves 200 on an inherited listening socket, like the provider does with listen_fd.
SERVER = """
import socket, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Ok(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *args): pass
server = HTTPServer(("127.0.0.1", 0), Ok, bind_and_activate=False)
server.socket = socket.socket(fileno=int(sys.argv[1]))
server.serve_forever()
"""
