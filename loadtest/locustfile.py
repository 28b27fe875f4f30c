"""The traffic of `make soak`, run by ``loadtest/soak.py`` (locust, headless).

No Django here: everything comes from the plan file the runner wrote (``SOAK_PLAN``:
stores with their owner logins and ticket ids, the reply option to use per platform,
the intake API token), and each request's time goes to ``SOAK_RESULTS`` at the end,
filed under the rate stage it started in.

One merchant user per seeded store (each logs in once, at start, through the login
form) and ``api_users`` intake clients share the target rate: ``API_SHARE`` of the
requests are intake calls, the rest dashboard traffic. Each user paces itself with
locust's ``constant_throughput`` at its share of the current stage's rate (the
``LoadTestShape`` below holds every user for the whole run and times the stages), so
the arrival rate is fixed while responses stay under the pacing interval and falls
behind (an achieved rate under the target) when they do not.
"""

import io
import itertools
import json
import os
import random
import re
import time
from collections import Counter
from pathlib import Path

from locust import FastHttpUser, LoadTestShape, __version__, events, task
from locust.user.wait_time import constant_throughput
from PIL import Image

PLAN = json.loads(Path(os.environ["SOAK_PLAN"]).read_text())
RESULTS = Path(os.environ["SOAK_RESULTS"])
RATES = [float(rate) for rate in PLAN["rates"]]
DURATION = float(PLAN["duration"])
STORES = PLAN["stores"]
MERCHANT_USERS = len(STORES)
API_USERS = int(PLAN["api_users"])
SPAWN_RATE = 25  # users started per second during the warm-up
WARMUP_MAX = 300  # seconds: start the stages even if some logins never finished
SETTLE = 3  # seconds between the last login and the first stage
# Unmeasured traffic at the first rate before the stages (every worker thread's first
# ticket page, upload and API call: imports, templates, connections).
WARM = min(15.0, DURATION)
# (rate, seconds, index in the results or None for the warm traffic), back to back.
STAGES = [(RATES[0], WARM, None)] + [(rate, DURATION, i) for i, rate in enumerate(RATES)]

# The mix, in shares of all requests (sums to 100): intake 25, dashboard 75.
API_MIX = {"api: POST new": 14, "api: POST repeat": 6, "api: GET": 5}
MERCHANT_MIX = {
    "inbox": 30,
    "search": 15,
    "ticket page": 20,
    "reply": 5,
    "evidence upload": 5,
}
API_SHARE = sum(API_MIX.values()) / (sum(API_MIX.values()) + sum(MERCHANT_MIX.values()))
TABS = ["", "?view=soon", "?view=overdue", "?view=replied", "?view=all", "?view=all&page=2"]
REMARK = "已与消费者电话沟通，问题已处理。"
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

clock = {"start": None}  # epoch seconds at which the first stage begins
logins = {"ok": 0, "failed": 0, "errors": Counter()}
samples = [[] for _ in RATES]  # per stage: [name, ms, error kind or None]
store_numbers = itertools.count()
api_numbers = itertools.count()


def stage_at(moment: float) -> tuple[float, int | None] | None:
    """(rate, results index) of the stage running at ``moment``; None before and after."""
    if clock["start"] is None or moment < clock["start"]:
        return None
    begins = clock["start"]
    for rate, seconds, index in STAGES:
        if moment < begins + seconds:
            return rate, index
        begins += seconds
    return None


def paced(share: float, users: int):
    """constant_throughput at this user's share of the current stage's rate; a random
    phase when the stages begin, so the users do not all fire in the same instant."""

    def wait(user) -> float:
        stage = stage_at(time.time())
        if stage is None:
            user._paced = False
            return 0.25
        interval = users / (stage[0] * share)
        if not user._paced:
            user._paced = True
            phase = random.uniform(0, interval)
            # constant_pacing's own clock (perf_counter): as if a wait of ``phase`` began now.
            user._cp_last_run, user._cp_last_wait_time = time.perf_counter(), phase
            return phase
        return constant_throughput(1 / interval)(user)

    return wait


@events.request.add_listener
def _record(name, response_time, exception=None, start_time=None, **kwargs):
    if name.startswith("login"):
        return
    started = start_time or (time.time() - response_time / 1000)
    stage = stage_at(started)
    if stage is not None and stage[1] is not None:
        kind = None if exception is None else f"{name}: {exception}"[:120]
        samples[stage[1]].append([name, round(response_time, 2), kind])


@events.test_stop.add_listener
def _dump(**kwargs):
    start = None if clock["start"] is None else clock["start"] + WARM
    RESULTS.write_text(
        json.dumps(
            {
                "locust": __version__,
                "merchant_users": MERCHANT_USERS,
                "api_users": API_USERS,
                "api_share": API_SHARE,
                "logins": {**logins, "errors": dict(logins["errors"])},
                "stages": [
                    {
                        "rate": rate,
                        "start": None if start is None else start + i * DURATION,
                        "duration": DURATION,
                        "samples": samples[i],
                    }
                    for i, rate in enumerate(RATES)
                ],
            }
        )
    )


class SoakShape(LoadTestShape):
    """Every user for the whole run: spawn and log in, then the stages back to back."""

    def tick(self):
        users = MERCHANT_USERS + API_USERS
        if clock["start"] is None:
            done = logins["ok"] + logins["failed"] >= MERCHANT_USERS
            if done or self.get_run_time() > WARMUP_MAX:
                clock["start"] = time.time() + SETTLE
            return users, SPAWN_RATE
        if time.time() >= clock["start"] + sum(seconds for _, seconds, _ in STAGES):
            return None
        return users, SPAWN_RATE


def _fail(response, label: str) -> None:
    response.failure(f"HTTP {response.status_code}" if response.status_code else label)


class MerchantUser(FastHttpUser):
    """A store's owner in the dashboard: inbox tabs, search, ticket pages, replies and
    evidence on the store's own tickets."""

    fixed_count = MERCHANT_USERS
    wait_time = paced(1 - API_SHARE, MERCHANT_USERS)
    _paced = False

    def on_start(self):
        self.store = STORES[next(store_numbers) % len(STORES)]
        self.to_reply = list(self.store["open"])
        random.shuffle(self.to_reply)
        self.uploads = itertools.count()
        self.csrf = ""
        try:
            self._login()
        except Exception as exc:  # counted, so the warm-up does not wait for it
            logins["failed"] += 1
            logins["errors"][f"login: {type(exc).__name__}"] += 1

    def _login(self):
        with self.client.get("/accounts/login/", name="login page", catch_response=True) as r:
            found = CSRF_FIELD.search(r.text or "")
            if r.status_code != 200 or not found:
                return self._login_failed(r, "login page")
        with self.client.post(
            "/accounts/login/",
            name="login",
            data={
                "username": self.store["username"],
                "password": PLAN["password"],
                "csrfmiddlewaretoken": found.group(1),
            },
            allow_redirects=False,
            catch_response=True,
        ) as r:
            if r.status_code != 302:
                return self._login_failed(r, "login")
        # Where the browser lands after logging in (not measured: "login" requests).
        with self.client.get("/", name="login: inbox", catch_response=True) as r:
            if r.status_code != 200:
                return self._login_failed(r, "login: inbox")
        self.csrf = next((c.value for c in self.client.cookiejar if c.name == "csrftoken"), "")
        logins["ok"] += 1

    def _login_failed(self, response, step: str) -> None:
        response.failure(f"{step}: HTTP {response.status_code}")
        logins["failed"] += 1
        logins["errors"][f"{step}: HTTP {response.status_code}"] += 1

    @task
    def step(self):
        if stage_at(time.time()) is None or not self.csrf:
            return
        kind = random.choices(list(MERCHANT_MIX), weights=MERCHANT_MIX.values())[0]
        if kind == "reply" and not self.to_reply:
            kind = "inbox"  # the store has no open seeded ticket left
        getattr(self, "_" + kind.replace(" ", "_"))(kind)

    def _get(self, url: str, name: str) -> None:
        with self.client.get(url, name=name, allow_redirects=False, catch_response=True) as r:
            if r.status_code != 200:
                _fail(r, name)

    def _inbox(self, name):
        self._get("/" + random.choice(TABS), name)

    def _search(self, name):
        term = random.choice(self.store["terms"])
        self._get(f"/?view=all&q={term}", name)

    def _ticket_page(self, name):
        self._get(f"/tickets/{random.choice(self.store['tickets'])}/", name)

    def _post(self, url: str, name: str, **kwargs) -> None:
        headers = {"X-CSRFToken": self.csrf, **kwargs.pop("headers", {})}
        with self.client.post(
            url, name=name, headers=headers, allow_redirects=False, catch_response=True, **kwargs
        ) as r:
            # Success redirects to the ticket page; a refusal re-renders it (200).
            if r.status_code != 302:
                r.failure("refused (HTTP 200)" if r.status_code == 200 else f"HTTP {r.status_code}")

    def _reply(self, name):
        ticket = self.to_reply.pop()
        data = {"option": PLAN["reply_option"][self.store["platform"]], "remark": REMARK}
        self._post(f"/tickets/{ticket}/reply/", name, data=data)

    def _evidence_upload(self, name):
        ticket = random.choice(self.store["open"])
        # A small PNG, different every time (the same file twice on a ticket is refused).
        image = Image.new("RGB", (48, 48), tuple(random.randrange(256) for _ in range(3)))
        image.putpixel((0, 0), (next(self.uploads) % 256, len(self.store["open"]) % 256, 7))
        image.putpixel((1, 0), tuple(random.randrange(256) for _ in range(3)))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        boundary = f"soak{random.getrandbits(64):016x}"
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="chat-{ticket}.png"\r\nContent-Type: image/png\r\n\r\n'
            ).encode()
            + buffer.getvalue()
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        self._post(f"/tickets/{ticket}/evidence/", name, data=body, headers=headers)


class ApiUser(FastHttpUser):
    """The platform's CS system: new tickets, the same numbers again, and look-ups."""

    fixed_count = API_USERS
    wait_time = paced(API_SHARE, API_USERS)
    _paced = False

    def on_start(self):
        self.headers = {"Authorization": f"Bearer {PLAN['token']}"}
        self.prefix = f"SK{PLAN['run']}{next(api_numbers):03d}"
        self.sent = itertools.count()
        self.numbers: list[dict] = []

    @task
    def step(self):
        if stage_at(time.time()) is None:
            return
        kind = random.choices(list(API_MIX), weights=API_MIX.values())[0]
        if kind == "api: POST new" or not self.numbers:
            self._open(self._new(), "api: POST new", 201)
        elif kind == "api: POST repeat":
            self._open(random.choice(self.numbers), "api: POST repeat", 200)
        else:
            number = random.choice(self.numbers)["number"]
            with self.client.get(
                f"/api/v1/tickets/{number}", name=kind, headers=self.headers, catch_response=True
            ) as r:
                if r.status_code != 200:
                    _fail(r, kind)

    def _new(self) -> dict:
        store = random.choice(STORES)
        payload = {
            "number": f"{self.prefix}{next(self.sent):06d}",
            "store_code": store["code"],
            "order_number": str(random.randrange(10**18, 10**19)),
            "summary": "物流长时间未更新，消费者要求核实包裹去向",
            "category": "logistics",
            "consumer_name": "王秀英",
            "consumer_phone": f"13{random.randrange(10**9):09d}",
        }
        return payload

    def _open(self, payload: dict, name: str, expected: int) -> None:
        with self.client.post(
            "/api/v1/tickets", name=name, json=payload, headers=self.headers, catch_response=True
        ) as r:
            if r.status_code != expected:
                r.failure(f"HTTP {r.status_code} (expected {expected})")
            elif expected == 201:  # a number the platform may send again
                self.numbers = (self.numbers + [payload])[-50:]
