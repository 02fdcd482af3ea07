"""A real HTTP server on 127.0.0.1 for tests: serves a folder, honours Range, can cut transfers.

with LocalServer(folder) as server:
    server.url              # http://127.0.0.1:<free port>
    server.cut_after["a.zip"] = 1000  # the next request for a.zip stops after 1000 bytes
    server.requests         # [(path, Range header or None), ...] in order
    server.honour_range = False  # answer every request with the whole file (200)
    server.send_length = False  # no Content-Length: the end of the body is the close
    server.fail_with["a.zip"] = [503, 503]  # the next two requests for a.zip get 503
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


class LocalServer:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.cut_after: dict[str, int] = {}  # name -> bytes sent before closing, once
        self.requests: list[tuple[str, str | None]] = []
        self.honour_range = True
        self.send_length = True
        self.fail_with: dict[str, list[int]] = {}  # name -> statuses of its next requests
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> LocalServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def requested(self, name: str) -> list[str | None]:
        """The Range headers of the requests for `name` (None: no Range)."""
        return [byte_range for path, byte_range in self.requests if path == f"/{name}"]

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                path = unquote(urlsplit(self.path).path)
                byte_range = self.headers.get("Range")
                server.requests.append((path, byte_range))
                file = server.folder / path.lstrip("/")
                if not path.startswith("/") or ".." in path or not file.is_file():
                    self._answer(404)
                    return
                if server.fail_with.get(file.name):
                    self._answer(server.fail_with[file.name].pop(0))
                    return
                data = file.read_bytes()
                start, status = 0, 200
                if byte_range and server.honour_range:
                    match = re.fullmatch(r"bytes=(\d+)-", byte_range)
                    if not match or int(match[1]) >= len(data):
                        self._answer(416)
                        return
                    start, status = int(match[1]), 206
                body = data[start:]
                self.send_response(status)
                if server.send_length:
                    self.send_header("Content-Length", str(len(body)))
                else:
                    self.close_connection = True
                self.send_header("Accept-Ranges", "bytes")
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                cut = server.cut_after.pop(file.name, None)
                self.wfile.write(body if cut is None else body[:cut])
                if cut is not None:
                    self.close_connection = True

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # keep test output clean
                pass

        return Handler
