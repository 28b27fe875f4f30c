"""Group-bot and email deliveries: each bot's JSON, signing, backoff, never twice.
Bots are a local HTTP server on 127.0.0.1, never the internet."""

import base64
import hashlib
import hmac
import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine

from loadtest.receiver import HttpReceiver
from tests.factories import TUESDAY_10_SHANGHAI, StoreFactory
from tickets import bots
from tickets.models import Delivery
from tickets.services.deliveries import backoff, delivery_send
from tickets.services.intake import ticket_open
from tickets.services.sweeps import sweep_run

pytestmark = pytest.mark.django_db

T0 = TUESDAY_10_SHANGHAI
REMIND_AT = T0 + timedelta(hours=12)


class FakeBot(HttpReceiver):
    """A group bot: answers each POST with ``self.answer`` (JSON) and HTTP 200."""

    def __init__(self):
        self.answer: dict = {"errcode": 0, "errmsg": "ok"}
        super().__init__(lambda _: (200, json.dumps(self.answer).encode()))

    @property
    def messages(self) -> list[tuple[str, dict]]:
        """(path, JSON body) of each request, in order."""
        return [(request.path, json.loads(request.body)) for request in self.recorded()]

    @property
    def keys(self) -> list[str | None]:
        """Each request's delivery key header."""
        return [request.headers.get(bots.DELIVERY_KEY_HEADER) for request in self.recorded()]


@pytest.fixture
def fake_bot():
    bot = FakeBot()
    yield bot
    bot.close()


def remind(store, django_capture_on_commit_callbacks, number="B1"):
    ticket, _ = ticket_open(store=store, number=number, order_number="O", summary="s", now=T0)
    with django_capture_on_commit_callbacks(execute=True):
        sweep_run(now=REMIND_AT)
    return ticket


@time_machine.travel(REMIND_AT, tick=False)
def test_wecom_bot_gets_a_markdown_message_with_the_ticket_link(
    fake_bot, django_capture_on_commit_callbacks
):
    store = StoreFactory(bot_kind="wecom", bot_url=f"{fake_bot.url}/cgi-bin/webhook/send?key=k1")
    ticket = remind(store, django_capture_on_commit_callbacks)
    assert len(fake_bot.messages) == 1
    path, body = fake_bot.messages[0]
    assert path == "/cgi-bin/webhook/send?key=k1"
    assert body["msgtype"] == "markdown"
    assert ticket.number in body["markdown"]["content"]
    assert f"/tickets/{ticket.pk}/" in body["markdown"]["content"]
    assert Delivery.objects.get(channel="webhook").status == "sent"


@time_machine.travel(REMIND_AT, tick=False)
def test_dingtalk_bot_request_is_signed(fake_bot, django_capture_on_commit_callbacks):
    secret = "SEC0123456789"
    store = StoreFactory(
        bot_kind="dingtalk", bot_url=f"{fake_bot.url}/robot/send?access_token=t", bot_secret=secret
    )
    remind(store, django_capture_on_commit_callbacks)
    path, body = fake_bot.messages[0]
    query = parse_qs(urlparse(path).query)
    timestamp = query["timestamp"][0]
    expected = base64.b64encode(
        hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    ).decode()
    assert query["sign"][0] == expected
    assert query["access_token"] == ["t"]
    assert body["msgtype"] == "markdown" and "title" in body["markdown"]


@time_machine.travel(REMIND_AT, tick=False)
def test_feishu_bot_signs_in_the_body(fake_bot, django_capture_on_commit_callbacks):
    fake_bot.answer = {"code": 0, "msg": "success"}
    store = StoreFactory(
        bot_kind="feishu", bot_url=f"{fake_bot.url}/open-apis/bot/v2/hook/x", bot_secret="fs"
    )
    remind(store, django_capture_on_commit_callbacks)
    _, body = fake_bot.messages[0]
    assert body["msg_type"] == "post"
    expected = base64.b64encode(
        hmac.new(f"{body['timestamp']}\nfs".encode(), b"", hashlib.sha256).digest()
    ).decode()
    assert body["sign"] == expected
    assert Delivery.objects.get().status == "sent"


def test_a_refused_message_is_retried_with_backoff_then_sent_once(
    fake_bot, django_capture_on_commit_callbacks
):
    fake_bot.answer = {"errcode": 310000, "errmsg": "keywords not in content"}
    store = StoreFactory(bot_kind="wecom", bot_url=f"{fake_bot.url}/send?key=k")
    with time_machine.travel(REMIND_AT, tick=False):
        remind(store, django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.next_attempt_at == REMIND_AT + backoff(1)
    assert "310000" in delivery.last_error

    # Before the backoff has passed nothing is sent again.
    assert (
        delivery_send(delivery_id=delivery.pk, now=REMIND_AT + timedelta(seconds=10)) == "skipped"
    )
    assert len(fake_bot.messages) == 1

    fake_bot.answer = {"errcode": 0}
    later = REMIND_AT + backoff(1)
    with time_machine.travel(later, tick=False), django_capture_on_commit_callbacks(execute=True):
        result = sweep_run(now=later)  # the sweep queues the retry
    assert result.deliveries_queued == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert len(fake_bot.messages) == 2
    assert delivery_send(delivery_id=delivery.pk, now=later + timedelta(hours=1)) == "skipped"
    assert len(fake_bot.messages) == 2
    # Both attempts carry the delivery's key: a receiver can tell a repeat from news.
    assert fake_bot.keys == [delivery.key, delivery.key]


def test_an_unreachable_bot_is_retried_and_finally_marked_failed(
    django_capture_on_commit_callbacks,
):
    store = StoreFactory(bot_kind="wecom", bot_url="http://127.0.0.1:9/send")  # nothing listens
    with time_machine.travel(REMIND_AT, tick=False):
        remind(store, django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get()
    now = REMIND_AT
    while delivery.status == "pending":
        now = delivery.next_attempt_at
        delivery_send(delivery_id=delivery.pk, now=now)
        delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert delivery.attempts == 8


def test_a_claim_left_by_a_dead_worker_is_taken_over(fake_bot):
    store = StoreFactory(bot_kind="wecom", bot_url=f"{fake_bot.url}/send")
    ticket, _ = ticket_open(store=store, number="D", order_number="O", summary="s", now=T0)
    sweep_run(now=REMIND_AT)  # on-commit callbacks not run: the worker "never got" it
    delivery = Delivery.objects.get()
    Delivery.objects.filter(pk=delivery.pk).update(status="sending", claimed_at=REMIND_AT)
    assert delivery_send(delivery_id=delivery.pk, now=REMIND_AT + timedelta(minutes=1)) == "skipped"
    assert delivery_send(delivery_id=delivery.pk, now=REMIND_AT + timedelta(minutes=6)) == "sent"
    assert len(fake_bot.messages) == 1


def test_bot_answers_are_judged_by_their_json():
    assert bots.answer_ok(kind="wecom", status=200, payload={"errcode": 0})
    assert not bots.answer_ok(kind="dingtalk", status=200, payload={"errcode": 130101})
    assert bots.answer_ok(kind="feishu", status=200, payload={"StatusCode": 0})
    assert not bots.answer_ok(kind="feishu", status=500, payload={"code": 0})
    with pytest.raises(ValueError):
        bots.build_request(
            kind="qq", url="u", secret="", title="t", text="x", link="l", timestamp_ms=0
        )


def test_a_bot_that_redirects_is_a_failure_not_a_get_of_the_new_address():
    """urllib would follow a 302 with a body-less GET and report its 200; the outbox's
    opener (shared with the webhooks) takes the 3xx as the answer instead."""
    from tickets.services.deliveries import post_json

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):  # what a followed redirect would reach
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        status, payload = post_json(f"http://127.0.0.1:{server.server_address[1]}/", {"a": 1})
    finally:
        server.shutdown()
        server.server_close()
    assert (status, payload) == (302, None)
