"""A small real web server for tests of the robot link alone (no Onthaal web app).

The simulated tablet fetches what it is told to show, as a real one does; a test of the
link needs an address that answers. Paths under ``/tablet/`` answer 200 with a page,
anything else 404. One server per test process, on a free port, in a daemon thread.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_server: ThreadingHTTPServer | None = None
_lock = threading.Lock()


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        found = self.path.startswith("/tablet/")
        body = b"<!doctype html><title>page</title><p>page</p>" if found else b"not found"
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "text/html" if found else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the tests read the simulator's journal, not this log."""


def page_url(path: str) -> str:
    """``http://127.0.0.1:<port><path>`` on the test process's page server."""
    global _server
    with _lock:
        if _server is None:
            _server = ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
            _server.daemon_threads = True
            threading.Thread(target=_server.serve_forever, daemon=True).start()
        port = _server.server_address[1]
    return f"http://127.0.0.1:{port}{path}"
