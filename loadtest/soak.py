"""The load run: `make soak` (``python -m loadtest.soak``).

1. Prepares the scratch database ``xietong_soak_bench`` (created when missing, never the
   dev one): migrate, then ``bench_pages``' set-based seed at a small size (SOAK_STORES
   stores, SOAK_TICKETS tickets), one owner login per store (``soak_owner_0000`` …,
   password ``soak12345``), SOAK_OPEN_PER_STORE open tickets per store with a logged
   phone call (so a reply is accepted), and one intake API token (``create_api_token``).
2. Starts gunicorn (``config.wsgi``, gthread) with DEBUG off, a random SECRET_KEY, the
   API rate limit and the login lock-out raised out of the way, and a loop running
   ``manage.py sweep_deadlines`` every minute (the beat schedule's interval).
3. Runs ``loadtest/locustfile.py`` headless: a warm-up in which every merchant user logs
   in once, 15 s of unmeasured traffic at the first rate, then each rate of SOAK_RATES
   (requests/s) for SOAK_DURATION seconds.
4. Prints, per rate, the achieved rate, p50 / p95 / p99, the errors by kind, and where
   it bends (the highest rate with p95 < 200 ms and no error), as a Markdown table.

Everything it starts is stopped on the way out, on failure and Ctrl-C too.

    make soak                                  # 50, 100, 200 req/s, 60 s each
    SOAK_SHORT=1 make soak                     # smoke: tiny seed, 10 s at 10 and 20 req/s
    SOAK_RATES=50,100 SOAK_DURATION=90 make soak
"""

import io
import json
import math
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "soak"  # plan, results, logs and the run's evidence files
PASSWORD = "soak12345"
OWNER_PREFIX = "soak_owner_"
OPEN_PREFIX = "SO"  # seeded open tickets' numbers
API_USERNAME = "soak_intake"
TARGET_P95_MS = 200
REDIS_MARKER = "xietong-soak:owned"


def out(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass
class Config:
    database_url: str = "postgres://postgres@127.0.0.1:5432/xietong_soak_bench"
    redis_url: str = "redis://127.0.0.1:6379/9"
    rates: list[float] = field(default_factory=lambda: [50, 100, 200])
    duration: float = 60
    stores: int = 200
    tickets: int = 4000
    open_per_store: int = 10
    api_users: int = 40
    workers: int = 4
    threads: int = 4
    port: int = 8765
    short: bool = False

    @classmethod
    def from_env(cls, env=os.environ) -> "Config":
        short = env.get("SOAK_SHORT", "") not in ("", "0")
        config = cls(short=short)
        if short:
            config.rates, config.duration = [10, 20], 10
            config.stores, config.tickets, config.open_per_store, config.api_users = 20, 400, 5, 4
        config.database_url = env.get("SOAK_DATABASE_URL", config.database_url)
        config.redis_url = env.get("SOAK_REDIS_URL", config.redis_url)
        if env.get("SOAK_RATES"):
            config.rates = [float(rate) for rate in env["SOAK_RATES"].split(",")]
        if env.get("SOAK_DURATION"):
            config.duration = float(env["SOAK_DURATION"])
        for name in ("stores", "tickets", "open_per_store", "api_users", "workers", "threads"):
            if env.get(f"SOAK_{name.upper()}"):
                setattr(config, name, int(env[f"SOAK_{name.upper()}"]))
        if env.get("SOAK_PORT"):
            config.port = int(env["SOAK_PORT"])
        return config


# --- the seed (Django) -------------------------------------------------------------------


def ensure_database(url: str) -> str:
    """Create the scratch database if missing; refuse any name but ``*_bench``."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.endswith("_bench"):
        raise SystemExit(f"Refusing to use {name!r}: the soak runs in a *_bench database.")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            return "created"
    return "exists"


EXTRA_STEPS = [
    (
        "owners",
        # One login per store, every one with the same password hash (hashed once).
        """
        INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,
                               email, is_staff, is_active, date_joined)
        SELECT %(hash)s, false, %(owner)s || lpad(i::text, 4, '0'), '', '', '', false, true,
               %(now)s
        FROM generate_series(0, %(stores)s - 1) AS i
        ON CONFLICT (username) DO UPDATE SET password = EXCLUDED.password, is_active = true
        """,
    ),
    (
        "memberships",
        """
        INSERT INTO merchants_membership
            (user_id, store_id, role, on_duty, notifications_seen_at, created_at)
        SELECT u.id, s.id, 'owner', true, %(now)s - interval '2 days', %(now)s
        FROM merchants_store AS s
        JOIN auth_user AS u ON u.username = %(owner)s || substr(s.code, length(%(prefix)s) + 1)
        WHERE s.code LIKE %(prefix)s || '%%'
        """,
    ),
    (
        "open tickets",
        # Opened in the last 2 hours (normal kind: due 24 hours after), for replies.
        """
        INSERT INTO tickets_ticket
            (number, store_id, policy_id, order_number, kind, worry_free, category, summary,
             consumer_name, consumer_phone, created_at, due_at, state, priority,
             escalated_at, updated_at, assignee_id)
        SELECT %(open)s || lpad(s.id::text, 6, '0') || lpad(k::text, 4, '0'), s.id, p.id,
               (4000000000000000000 + s.id * 10000 + k)::text, 'normal', false, 'logistics',
               '物流长时间未更新，消费者要求核实包裹去向', '李建国',
               '139' || lpad((s.id * 1000 + k)::text, 8, '0'),
               c.at, c.at + interval '24 hours', 'open', 0, NULL, c.at, NULL
        FROM merchants_store AS s
        JOIN tickets_policy AS p ON p.platform = s.platform AND p.kind = 'normal'
        CROSS JOIN generate_series(1, %(per_store)s) AS k
        CROSS JOIN LATERAL (SELECT %(now)s - k * interval '7 minutes' AS at) AS c
        WHERE s.code LIKE %(prefix)s || '%%'
        """,
    ),
    (
        "open events",
        """
        INSERT INTO tickets_ticketevent
            (ticket_id, action, from_state, to_state, actor_id, at, reason, payload)
        SELECT id, 'opened', '', 'open', NULL, created_at, '', '{}'::jsonb
        FROM tickets_ticket WHERE number LIKE %(open)s || '%%'
        """,
    ),
    (
        "contacts",
        # The phone call every reply option asks for first.
        """
        INSERT INTO tickets_contactattempt
            (ticket_id, channel, attempted_at, note, counts, logged_by_id, logged_at)
        SELECT t.id, 'phone', t.created_at + interval '1 minute', '已电话联系消费者', true,
               m.user_id, t.created_at + interval '1 minute'
        FROM tickets_ticket AS t
        JOIN merchants_membership AS m ON m.store_id = t.store_id
        JOIN auth_user AS u ON u.id = m.user_id AND u.username LIKE %(owner)s || '%%'
        WHERE t.number LIKE %(open)s || '%%'
        """,
    ),
]

PLAN_SQL = """
SELECT s.code, s.platform, u.username,
       ARRAY(SELECT id FROM tickets_ticket AS t WHERE t.store_id = s.id
             ORDER BY id LIMIT 30) AS tickets,
       ARRAY(SELECT id FROM tickets_ticket AS t
             WHERE t.store_id = s.id AND t.number LIKE %(open)s || '%%' ORDER BY id) AS open,
       ARRAY[(SELECT consumer_name FROM tickets_ticket AS t
              WHERE t.store_id = s.id ORDER BY id DESC LIMIT 1),
             (SELECT right(number, 6) FROM tickets_ticket AS t
              WHERE t.store_id = s.id ORDER BY id LIMIT 1),
             (SELECT right(consumer_phone, 4) FROM tickets_ticket AS t
              WHERE t.store_id = s.id ORDER BY id LIMIT 1), '物流'] AS terms
FROM merchants_store AS s
JOIN merchants_membership AS m ON m.store_id = s.id
JOIN auth_user AS u ON u.id = m.user_id AND u.username LIKE %(owner)s || '%%'
WHERE s.code LIKE %(prefix)s || '%%'
ORDER BY s.code
"""


def seed(*, stores: int, tickets: int, open_per_store: int) -> dict:
    """Seed the connected scratch database; returns the plan (without token or rates)."""
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone

    from tickets.management.commands.bench_pages import STORE_PREFIX, scratch_database
    from tickets.management.commands.bench_pages import Command as BenchPages
    from tickets.models import ReplyOption

    name = connection.settings_dict["NAME"]
    if connection.vendor != "postgresql" or not scratch_database(name):
        raise SystemExit(f"Refusing to seed {name!r}: PostgreSQL *_bench (or pytest's) only.")
    if not 2 <= stores <= 9999 or tickets < 2:
        raise SystemExit("Need 2 ≤ stores ≤ 9999 and at least 2 tickets.")
    # bench_pages' seed: stores, tickets in every state, replies, judgments, reports…
    # (it truncates everything hanging off the stores first).
    BenchPages()._seed(tickets=tickets, big=max(1, tickets // 10), stores=stores, steps=False)
    params = {
        "hash": make_password(PASSWORD),
        "now": timezone.now(),
        "owner": OWNER_PREFIX,
        "open": OPEN_PREFIX,
        "prefix": STORE_PREFIX,
        "stores": stores,
        "per_store": open_per_store,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        for _, sql in EXTRA_STEPS:
            cursor.execute(sql, params)
        cursor.execute("ANALYZE")
        cursor.execute(PLAN_SQL, params)
        rows = cursor.fetchall()
    options = {
        option.platform: str(option.pk)
        for option in ReplyOption.objects.filter(code="other", is_active=True)
    }
    return {
        "password": PASSWORD,
        "reply_option": options,
        "stores": [
            {
                "code": code,
                "platform": platform_,
                "username": username,
                "tickets": list(ticket_ids) + list(open_ids[:5]),
                "open": list(open_ids),
                "terms": [term for term in terms if term],
            }
            for code, platform_, username, ticket_ids, open_ids, terms in rows
        ],
    }


def api_token() -> str:
    """A fresh intake token with use_intake_api (create_api_token's own code)."""
    from django.core.management import call_command

    stdout, stderr = io.StringIO(), io.StringIO()
    name = f"soak {time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(2)}"
    call_command("create_api_token", username=API_USERNAME, name=name, stdout=stdout, stderr=stderr)
    return stdout.getvalue().strip()


# --- the report ----------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the value ``share`` of the sorted values are at or below."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass
class RateRow:
    rate: float
    duration: float
    requests: int
    achieved: float
    p50: float
    p95: float
    p99: float
    errors: Counter
    kinds: dict  # request name -> (count, p95 ms)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def holds(self) -> bool:
        return self.requests > 0 and self.p95 < TARGET_P95_MS and not self.errors


def summarize(stage: dict) -> RateRow:
    """One stage of the results file: ``samples`` are [name, ms, error kind or None]."""
    samples = stage["samples"]
    times = [ms for _, ms, _ in samples]
    by_name: dict[str, list[float]] = {}
    for name, ms, _ in samples:
        by_name.setdefault(name, []).append(ms)
    return RateRow(
        rate=stage["rate"],
        duration=stage["duration"],
        requests=len(samples),
        achieved=len(samples) / stage["duration"] if stage["duration"] else 0.0,
        p50=percentile(times, 0.50),
        p95=percentile(times, 0.95),
        p99=percentile(times, 0.99),
        errors=Counter(kind for _, _, kind in samples if kind),
        kinds={name: (len(ms), percentile(ms, 0.95)) for name, ms in sorted(by_name.items())},
    )


def bend(rows: list[RateRow]) -> str:
    held = [row for row in rows if row.holds]
    broke = [row for row in rows if not row.holds]
    if not held:
        lowest = min(row.rate for row in rows)
        return f"no rate held p95 < {TARGET_P95_MS} ms with 0 errors (bends below {lowest:g} req/s)"
    best = max(held, key=lambda row: row.rate)
    text = f"holds up to {best.rate:g} req/s (p95 {best.p95:.0f} ms, 0 errors)"
    above = [row for row in broke if row.rate > best.rate]
    if above:
        first = min(above, key=lambda row: row.rate)
        why = []
        if first.p95 >= TARGET_P95_MS:
            why.append(f"p95 {first.p95:.0f} ms")
        if first.errors:
            why.append(f"{first.error_count} errors")
        if first.achieved < 0.95 * first.rate:
            why.append(f"achieved {first.achieved:.0f} req/s")
        text += f"; bends by {first.rate:g} req/s ({', '.join(why)})"
    else:
        text += f"; did not bend up to the highest rate tried ({rows[-1].rate:g} req/s)"
    return text


def _errors_cell(row: RateRow) -> str:
    if not row.errors:
        return "0"
    kinds = ", ".join(f"{kind} ×{n}" for kind, n in row.errors.most_common(4))
    more = "" if len(row.errors) <= 4 else f", +{len(row.errors) - 4} more kinds"
    return f"{row.error_count} ({kinds}{more})"


def format_report(rows: list[RateRow], setup: list[str]) -> str:
    lines = [
        "| target req/s | achieved req/s | requests | p50 ms | p95 ms | p99 ms | errors |",
        "|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.rate:g} | {row.achieved:.1f} | {row.requests:,} | {row.p50:.0f} "
            f"| {row.p95:.0f} | {row.p99:.0f} | {_errors_cell(row)} |"
        )
    names = sorted({name for row in rows for name in row.kinds})
    lines += [
        "",
        "p95 ms by request (count):",
        "",
        "| request | " + " | ".join(f"{row.rate:g} req/s" for row in rows) + " |",
        "|---|" + "---:|" * len(rows),
    ]
    for name in names:
        cells = []
        for row in rows:
            count, p95 = row.kinds.get(name, (0, float("nan")))
            cells.append(f"{p95:.0f} ({count:,})" if count else "—")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"Where it bends (p95 < {TARGET_P95_MS} ms, 0 errors): {bend(rows)}", ""]
    lines += setup
    return "\n".join(lines)


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores{f' ({model})' if model else ''}, {platform.platform()}"


# --- the processes -----------------------------------------------------------------------


def wait_http(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited ({process.returncode}): see {WORK}/gunicorn.log")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"gunicorn did not answer {url} in {timeout:.0f} s")


def stop_process(process: subprocess.Popen | None, name: str) -> None:
    """SIGTERM the process group we started (start_new_session), SIGKILL if it lingers."""
    if process is None or process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            out(f"{name} did not stop on {sig.name}")


class SweepLoop(threading.Thread):
    """``manage.py sweep_deadlines`` now and then every ``interval`` seconds."""

    def __init__(self, env: dict, interval: float = 60):
        super().__init__(daemon=True)
        self.env, self.interval = env, interval
        self.stopping = threading.Event()
        self.runs: list[tuple[float, str]] = []
        self.process: subprocess.Popen | None = None

    def run(self):
        while not self.stopping.is_set():
            started = time.monotonic()
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "manage.py"), "sweep_deadlines"],
                cwd=ROOT,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
            output, _ = self.process.communicate()
            self.runs.append((time.monotonic() - started, (output or "").strip()[-200:]))
            self.stopping.wait(self.interval)

    def stop(self):
        self.stopping.set()
        stop_process(self.process, "sweep")
        self.join(timeout=20)


def _redis_claim(url: str):
    """The run's own Redis database: empty (or left by an earlier soak) and marked ours."""
    import redis

    client = redis.Redis.from_url(url)
    if client.dbsize() and not client.exists(REDIS_MARKER):
        raise SystemExit(f"{url} holds someone else's keys: set SOAK_REDIS_URL to an empty db.")
    client.flushdb()
    client.set(REDIS_MARKER, "1")
    return client


def main() -> int:
    config = Config.from_env()
    WORK.mkdir(parents=True, exist_ok=True)
    media = WORK / "media"
    plan_path, results_path = WORK / "plan.json", WORK / "results.json"
    results_path.unlink(missing_ok=True)
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", config.port)) == 0:
            raise SystemExit(f"Port {config.port} is taken: set SOAK_PORT.")

    # This process's Django runs on the scratch database only.
    os.environ.update(
        DATABASE_URL=config.database_url,
        REDIS_URL=config.redis_url,
        DJANGO_SETTINGS_MODULE="config.settings",
        MEDIA_ROOT=str(media),
    )
    started = time.monotonic()
    state = ensure_database(config.database_url)
    import django

    django.setup()
    import warnings

    from django.core.management import call_command
    from django.db import connection

    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    call_command("migrate", verbosity=0, interactive=False)
    plan = seed(stores=config.stores, tickets=config.tickets, open_per_store=config.open_per_store)
    plan["token"] = api_token()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tickets_ticket")
        ticket_count = cursor.fetchone()[0]
        pg_version = connection.pg_version
    connection.close()
    plan.update(
        rates=config.rates,
        duration=config.duration,
        api_users=config.api_users,
        run=time.strftime("%H%M%S"),
    )
    plan_path.write_text(json.dumps(plan))
    prep = time.monotonic() - started
    out(
        f"prepared {urlsplit(config.database_url).path.lstrip('/')} ({state}): "
        f"{len(plan['stores'])} stores with owner logins, {ticket_count:,} tickets "
        f"({config.open_per_store} open per store for replies), 1 API token, {prep:.0f} s"
    )

    env = {
        **os.environ,
        "DEBUG": "0",
        "XIETONG_ENV": "development",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Out of the way, so they do not shape the figures: one token sends every intake
        # request here, and every user logs in once from the same address.
        "API_RATE_PER_SECOND": "1000000",
        "API_RATE_BURST": "1000000",
        "AXES_FAILURE_LIMIT": "1000000",
        "SOAK_PLAN": str(plan_path),
        "SOAK_RESULTS": str(results_path),
        "PYTHONUNBUFFERED": "1",
    }
    bin_dir = Path(sys.executable).parent
    gunicorn_cmd = [
        str(bin_dir / "gunicorn"),
        "config.wsgi",
        "--worker-class",
        "gthread",
        "--workers",
        str(config.workers),
        "--threads",
        str(config.threads),
        "--bind",
        f"127.0.0.1:{config.port}",
        "--timeout",
        "60",
        "--log-level",
        "warning",
    ]
    base = f"http://127.0.0.1:{config.port}"
    stages_s = config.duration * len(config.rates)
    gunicorn = locust = None
    sweep = SweepLoop(env)
    redis_client = None

    def on_term(signum, frame):
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    try:
        redis_client = _redis_claim(config.redis_url)
        with open(WORK / "gunicorn.log", "w") as log:
            gunicorn = subprocess.Popen(
                gunicorn_cmd, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True
            )
        wait_http(f"{base}/accounts/login/", gunicorn, timeout=60)
        sweep.start()
        out(
            f"gunicorn up ({config.workers} workers × {config.threads} threads); "
            f"locust: warm-up (logins), then {', '.join(f'{r:g}' for r in config.rates)} "
            f"req/s × {config.duration:g} s"
        )
        with open(WORK / "locust.log", "w") as log:
            locust = subprocess.Popen(
                [
                    str(bin_dir / "locust"),
                    "-f",
                    str(ROOT / "loadtest" / "locustfile.py"),
                    "--headless",
                    "--host",
                    base,
                    "--only-summary",
                    "--exit-code-on-error",
                    "0",
                    "--loglevel",
                    os.environ.get("SOAK_LOCUST_LOGLEVEL", "WARNING"),
                    *os.environ.get("SOAK_LOCUST_ARGS", "").split(),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
            try:
                locust.wait(timeout=stages_s + 420)
            except subprocess.TimeoutExpired:
                raise SystemExit(f"locust overran: see {WORK}/locust.log") from None
        if locust.returncode != 0 or not results_path.exists():
            raise SystemExit(f"locust failed ({locust.returncode}): see {WORK}/locust.log")
    finally:
        stop_process(locust, "locust")
        sweep.stop()
        stop_process(gunicorn, "gunicorn")
        if redis_client is not None:
            redis_client.flushdb()
        subprocess.run(["rm", "-rf", str(media)], check=False)

    results = json.loads(results_path.read_text())
    rows = [summarize(stage) for stage in results["stages"]]
    logins = results["logins"]
    sweeps = ", ".join(f"{took:.1f} s" for took, _ in sweep.runs)
    setup = [
        f"Measured {datetime.now(UTC):%Y-%m-%d} with `make soak`"
        + (" (SOAK_SHORT=1: smoke only)" if config.short else "")
        + f"; machine: {machine()}.",
        f"- gunicorn `config.wsgi --worker-class gthread --workers {config.workers} "
        f"--threads {config.threads}` on 127.0.0.1, DEBUG off, "
        f"PostgreSQL {pg_version // 10000}.{pg_version % 100} and Redis on the same machine; "
        "locust (the load generator) on it too.",
        f"- locust {results['locust']}, headless: {results['merchant_users']} merchant users "
        f"(one per store, each logged in once at start: {logins['ok']} ok, "
        f"{logins['failed']} failed) and {results['api_users']} intake clients, paced with "
        f"constant_throughput at the stage's rate; 15 s unmeasured at the first rate, then "
        f"each rate {config.duration:g} s.",
        "- mix: intake 25 % (POST new 14, POST the same number again 6, GET 5), dashboard "
        "75 % (inbox tabs 30, search 15, ticket page 20, reply 5, evidence upload 5: a "
        "48×48 PNG, each one different).",
        f"- data: {len(plan['stores'])} stores, {ticket_count:,} tickets at the start "
        "(bench_pages' seed plus open tickets with a logged call, for the replies).",
        "- limits moved out of the way for the run: API_RATE_PER_SECOND / API_RATE_BURST "
        "1,000,000 (one token sends all intake traffic), AXES_FAILURE_LIMIT 1,000,000.",
        f"- the sweep (`manage.py sweep_deadlines`) every 60 s: {len(sweep.runs)} runs "
        f"({sweeps or 'none'}).",
    ]
    out("")
    out(format_report(rows, setup))
    return 0


if __name__ == "__main__":
    sys.exit(main())
