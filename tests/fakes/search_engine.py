"""A fake search engine on loopback for the connector tests: Elasticsearch-style
`POST /<index>/_search`, a generic `GET /search?q=&k=`, and switchable faults (status,
content type, oversize or malformed bodies, redirects, hangs)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class FakeSearchEngine:
    def __init__(self, results: dict[str, list[str]] | None = None):
        # query text → product ids in rank order
        self.results: dict[str, list[str]] = dict(results or {})
        self.requests: list[dict] = []
        # path prefix → a fault: {"status": 500} | {"content_type": ...} | {"body": bytes}
        # | {"redirect": url} | {"hang": seconds} | {"size": n, "chunked": bool}
        self.faults: dict[str, dict] = {}
        # query text → a fault for that query only
        self.query_faults: dict[str, dict] = {}
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> "FakeSearchEngine":
        engine = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet tests
                pass

            def do_GET(self):
                engine._handle(self)

            def do_POST(self):
                engine._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- answering -------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        parts = urlsplit(handler.path)
        params = parse_qs(parts.query)
        self.requests.append(
            {
                "method": handler.command,
                "path": parts.path,
                "params": params,
                "headers": dict(handler.headers),
                "body": body,
            }
        )
        if parts.path.endswith("/_search"):
            text = body["query"]["multi_match"]["query"]
            size = body["size"]
            ids = self.results.get(text, [])[:size]
            payload = {
                "hits": {
                    "total": {"value": len(ids)},
                    "hits": [{"_id": pid, "_score": 10.0 - i} for i, pid in enumerate(ids)],
                }
            }
        else:
            text = params.get("q", [""])[0]
            size = int(params.get("k", ["10"])[0])
            ids = self.results.get(text, [])[:size]
            payload = {
                "data": {"items": [{"product": {"sku": pid}, "relevance": 1.0 / (i + 1)} for i, pid in enumerate(ids)]}
            }
        fault = self.query_faults.get(text) or next(
            (f for p, f in self.faults.items() if parts.path.startswith(p)), None
        )
        self._answer(handler, payload, fault or {})

    def _answer(self, handler, payload, fault: dict) -> None:
        if "hang" in fault:
            time.sleep(fault["hang"])
        if "redirect" in fault:
            handler.send_response(fault.get("status", 302))
            handler.send_header("Location", fault["redirect"])
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        data = fault.get("body", json.dumps(payload).encode())
        if "size" in fault:
            data = b'{"pad": "' + b"x" * fault["size"] + b'"}'
        handler.send_response(fault.get("status", 200))
        handler.send_header("Content-Type", fault.get("content_type", "application/json"))
        if fault.get("chunked"):
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            try:
                for start in range(0, len(data), 1024):
                    piece = data[start : start + 1024]
                    handler.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                handler.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading past its cap
            return
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        try:
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
