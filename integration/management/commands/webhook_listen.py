"""A reference webhook receiver: verifies each request's signature and timestamp, answers
204 (valid) or 400 (not), and writes each verified event to stdout as one JSON line.

    python manage.py webhook_listen --port 8765 --secret <the subscriber's secret>

For trying webhooks out and for the tests; a real receiver does the same checks (see
integration/signing.py) and de-duplicates on X-Xietong-Event-Id.
"""

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.core.management.base import BaseCommand, CommandError

from integration.signing import verify_signature

MAX_BODY = 1024 * 1024


def receiver_server(
    *,
    host: str,
    port: int,
    secret: str,
    write: Callable[[str], None],
    clock: Callable[[], float] = time.time,
) -> ThreadingHTTPServer:
    """An HTTP server (not yet serving) that checks and writes webhooks; port 0 picks one."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = self.headers.get("Content-Length", "")
            if not length.isdigit() or int(length) > MAX_BODY:
                self._answer(400, b"bad length")
                return
            body = self.rfile.read(int(length))
            valid = verify_signature(
                secret,
                self.headers.get("X-Xietong-Timestamp", ""),
                body,
                self.headers.get("X-Xietong-Signature", ""),
                now=clock(),
            )
            if not valid:
                self._answer(400, b"bad signature or timestamp")
                return
            try:
                event = json.loads(body)
            except ValueError:
                self._answer(400, b"not JSON")
                return
            with lock:  # one line per event, whole, whatever the threads do
                write(json.dumps(event, ensure_ascii=False, sort_keys=True))
            self._answer(204, b"")

        def _answer(self, status: int, text: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, format, *args):  # noqa: A002 - the base class's name
            pass  # stdout carries events only

    return ThreadingHTTPServer((host, port), Handler)


class Command(BaseCommand):
    help = "Receive Xietong webhooks: verify each one and print it as a JSON line."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument("--secret", required=True, help="The subscriber's signing secret.")

    def handle(self, *args, host, port, secret, **options):
        try:
            self.server = receiver_server(
                host=host, port=port, secret=secret, write=self.stdout.write
            )
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from exc
        bound_host, bound_port = self.server.server_address[:2]
        self.stderr.write(f"Listening on http://{bound_host}:{bound_port}/ (Ctrl-C stops)")
        try:
            self.server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.server.server_close()
