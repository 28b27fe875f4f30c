"""manage.py webhook_listen: the reference receiver, fed by real deliveries."""

import io
import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from django.core.management import call_command

from integration.management.commands.webhook_listen import Command
from integration.models import WebhookAttempt
from integration.services import subscriber_deliver
from integration.signing import sign

from .conftest import NOW, note, open_ticket, settle, subscribe

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


class LockedBuffer(io.StringIO):
    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()

    def write(self, text):
        with self.lock:
            return super().write(text)


@pytest.fixture
def listen():
    """Run the command in a thread on a free port; yields (command, url, stdout)."""
    command, out, err = Command(), LockedBuffer(), LockedBuffer()
    started = {}

    def run(secret):
        thread = threading.Thread(
            target=call_command,
            args=(command, "--port", "0", "--secret", secret),
            kwargs={"stdout": out, "stderr": err},
            daemon=True,
        )
        thread.start()
        deadline = time.monotonic() + 10
        while "Listening on" not in err.getvalue():
            assert time.monotonic() < deadline, err.getvalue()
            time.sleep(0.01)
        started["thread"] = thread
        port = command.server.server_address[1]
        return f"http://127.0.0.1:{port}/", out

    yield run
    if "thread" in started:
        command.server.shutdown()
        started["thread"].join(10)


def test_verified_deliveries_become_json_lines(listen, store):
    subscriber = subscribe("http://127.0.0.1:1/", name="listener")
    url, out = listen(subscriber.secret)
    subscriber.url = url
    subscriber.save(update_fields=["url"])
    ticket = open_ticket(store, "CS-L1")
    reply = note(ticket, "a note")
    settle()

    run = subscriber_deliver(subscriber_id=subscriber.pk, now=NOW)

    assert (run.status, run.delivered) == ("done", 2)
    lines = out.getvalue().splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["ticket.opened", "ticket.note_added"]
    assert json.loads(lines[1])["id"] == f"evt_{reply.pk}"
    assert list(WebhookAttempt.objects.values_list("status_code", flat=True)) == [204, 204]


def test_a_wrong_secret_gets_400_and_prints_nothing(listen, store):
    subscriber = subscribe("http://127.0.0.1:1/", name="listener")
    url, out = listen("not-the-subscriber-secret")
    subscriber.url = url
    subscriber.save(update_fields=["url"])
    open_ticket(store, "CS-L2")
    settle()

    run = subscriber_deliver(subscriber_id=subscriber.pk, now=NOW)

    assert run.status == "failed"
    assert WebhookAttempt.objects.get().status_code == 400
    assert out.getvalue() == ""


@pytest.mark.parametrize("age", [0, 301])
def test_a_stale_timestamp_gets_400(listen, age):
    url, out = listen("S")
    body = b'{"id": "evt_1"}'
    timestamp = int(time.time()) - age
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Xietong-Timestamp": str(timestamp),
            "X-Xietong-Signature": sign("S", timestamp, body),
        },
    )
    if age == 0:
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 204
        assert json.loads(out.getvalue()) == {"id": "evt_1"}
        return
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    refused.value.close()
    assert refused.value.code == 400
    assert out.getvalue() == ""
