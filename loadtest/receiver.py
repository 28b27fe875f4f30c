"""A receiver on 127.0.0.1 for what Xietong sends out: a stores' group bot or a webhook
subscriber, in a thread of its own. The drills count the delivery keys it is sent; the
tests read the requests it recorded. Standard library only.
"""

import threading
import time
from collections.abc import Callable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple


class Received(NamedTuple):
    path: str
    headers: Message  # looked up without regard to case, as HTTP header names are
    body: bytes


# (status, JSON body or b"") for a request.
Answer = Callable[[Received], tuple[int, bytes]]


class HttpReceiver:
    """Records every POST and answers it with ``answer(request)`` (kept as ``respond``),
    ``delay`` seconds later. ``url`` is its address with ``path``."""

    def __init__(self, answer: Answer, *, path: str = "", delay: float = 0.0):
        self.respond = answer
        self.delay = delay
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = Received(self.path, self.headers, body)
                with receiver.lock:
                    receiver.requests.append(request)
                # The answer is decided on arrival (a scripted status is taken in order),
                # and sent after the delay.
                status, data = receiver.respond(request)
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def recorded(self) -> list[Received]:
        """A copy of the requests so far (the server thread keeps appending)."""
        with self.lock:
            return list(self.requests)

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
