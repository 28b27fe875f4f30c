"""The fault drills: `make drills` (``python -m loadtest.drills [name …]``).

Each drill breaks something under real processes, then counts what came out:
expected, done, doubled, lost. Everything runs on a private PostgreSQL cluster and a
private ``redis-server`` that the drills start on their own ports (DRILL_PG_PORT,
DRILL_REDIS_PORT) and remove at the end: the machine's shared servers are never
restarted. The group bot the stores post to is a receiver in this process that counts
each delivery key it is sent.

    worker-sweep      SIGKILL the Celery worker (every process of it) in the middle of a
                      sweep over DRILL_OVERDUE (50,000) overdue tickets, then start it
                      again, as its supervisor would.
    worker-delivery   SIGKILL the worker in the middle of a batch of DRILL_DELIVERIES
                      group-bot messages (the receiver answers slowly), then start it again.
    postgres-sweep    Restart PostgreSQL (``pg_ctl restart -m immediate``: a crash and
                      recovery) in the middle of the same sweep; worker and beat go on.
    postgres-intake   Restart PostgreSQL under intake POSTs to gunicorn; the clients retry
                      what failed, as the platform's CS system does, and keep every 2xx.
    redis             Kill and restart the broker under a running worker and beat while
                      reminders, deliveries and escalations fall due.

Beat runs the sweep every DRILL_SWEEP_SECONDS (3) and a delivery claim is taken over
after DRILL_CLAIM_SECONDS (15): the production defaults (60 s, 5 min) would only make
the drills longer. A drill passes when nothing is doubled or lost; the exit status is 1
if any did not.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loadtest.receiver import HttpReceiver
from loadtest.soak import machine, out, stop_process, wait_http
from tickets.bots import DELIVERY_KEY_HEADER

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "drills"  # logs of the processes the drills start
DATABASE = "xietong_drills_bench"
STORE_PREFIX = "DRILL-"
BIN = Path(sys.executable).parent


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass
class Config:
    pg_port: int = field(default_factory=lambda: _int("DRILL_PG_PORT", 55432))
    redis_port: int = field(default_factory=lambda: _int("DRILL_REDIS_PORT", 56379))
    web_port: int = field(default_factory=lambda: _int("DRILL_WEB_PORT", 8767))
    stores: int = field(default_factory=lambda: _int("DRILL_STORES", 50))
    overdue: int = field(default_factory=lambda: _int("DRILL_OVERDUE", 50_000))
    reminders: int = field(default_factory=lambda: _int("DRILL_REMINDERS", 5_000))
    deliveries: int = field(default_factory=lambda: _int("DRILL_DELIVERIES", 2_000))
    intake_seconds: int = field(default_factory=lambda: _int("DRILL_INTAKE_SECONDS", 20))
    sweep_seconds: int = field(default_factory=lambda: _int("DRILL_SWEEP_SECONDS", 3))
    claim_seconds: int = field(default_factory=lambda: _int("DRILL_CLAIM_SECONDS", 15))
    timeout: int = field(default_factory=lambda: _int("DRILL_TIMEOUT", 300))


# --- the private servers ---------------------------------------------------------------


class PrivatePostgres:
    """A throw-away cluster (initdb) on its own port; as root it runs as ``postgres``."""

    def __init__(self, port: int):
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="xietong-drills-pg-"))
        self.data = self.dir / "data"
        self.bin = self._bindir()
        # initdb refuses to run as root: as root, the cluster belongs to ``postgres``.
        self.owner = {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}

    @staticmethod
    def _bindir() -> Path:
        found = shutil.which("pg_config")
        if found:
            bindir = subprocess.run([found, "--bindir"], capture_output=True, text=True)
            if (Path(bindir.stdout.strip()) / "initdb").exists():
                return Path(bindir.stdout.strip())
        for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
            if (candidate / "initdb").exists():
                return candidate
        raise SystemExit("PostgreSQL's initdb/pg_ctl were not found (postgresql package).")

    def _run(self, *args: str) -> None:
        # Its own session: the postmaster pg_ctl leaves behind is none of our group's.
        result = subprocess.run(
            args,
            capture_output=True,
            text=True,
            cwd=self.dir,
            start_new_session=True,
            **self.owner,
        )
        if result.returncode:
            raise SystemExit(f"{' '.join(args[:2])} failed:\n{result.stdout}{result.stderr}")

    def start(self) -> None:
        if self.owner:
            shutil.chown(self.dir, "postgres", "postgres")
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        )
        self._up()

    def _up(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def restart(self) -> None:
        """A crash and recovery: every connection is cut, nothing is flushed first.
        (Stop, then start: a ``pg_ctl restart`` run from here was seen to SIGTERM it.)"""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self._up()

    def stop(self) -> None:
        if self.data.exists():
            try:
                self._run(
                    str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"
                )
            except SystemExit as exc:
                out(str(exc))
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"


class PrivateRedis:
    """A ``redis-server`` of our own that keeps nothing on disk, like the machine's."""

    def __init__(self, port: int):
        self.port = port
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        if shutil.which("redis-server") is None:
            raise SystemExit("redis-server was not found.")
        with open(WORK / "redis.log", "a") as log:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(WORK),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise SystemExit(f"redis-server did not listen on {self.port}")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


WECOM_OK = b'{"errcode": 0, "errmsg": "ok"}'


class Receiver(HttpReceiver):
    """The stores' group bot: answers like WeCom; the drill counts the delivery keys."""

    def __init__(self):
        super().__init__(lambda _: (200, WECOM_OK), path="/cgi-bin/webhook/send?key=d")

    def keys(self) -> Counter:
        """How often each delivery key was received."""
        return Counter(request.headers.get(DELIVERY_KEY_HEADER) for request in self.recorded())

    def received(self) -> int:
        """Distinct delivery keys received so far."""
        return len(self.keys())

    def reset(self, delay: float = 0.0) -> None:
        self.clear()
        self.delay = delay


# --- the database, seen from outside the processes ----------------------------------------


class Db:
    """Short psycopg connections that wait out a restarting server."""

    def __init__(self, url: str):
        self.url = url

    def __call__(self, sql: str, params=None, *, wait: float = 60) -> list[tuple]:
        import psycopg

        deadline = time.monotonic() + wait
        while True:
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=2) as conn:
                    cursor = conn.execute(sql, params)
                    return cursor.fetchall() if cursor.description else []
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def one(self, sql: str, params=None) -> tuple:
        return self(sql, params)[0]


SEED_TICKETS = """
INSERT INTO tickets_ticket
    (number, store_id, policy_id, order_number, kind, worry_free, category, summary,
     consumer_name, consumer_phone, created_at, due_at, state, priority, escalated_at,
     updated_at)
SELECT %(prefix)s || g, (%(stores)s::bigint[])[1 + g %% cardinality(%(stores)s::bigint[])],
       (SELECT id FROM tickets_policy WHERE platform = 'taobao' AND kind = 'normal'),
       'O' || g, 'normal', false, 'other', 'drill', '', '',
       %(due)s - interval '24 hours', %(due)s + (g - 1) * %(spread)s / %(count)s, 'open', 0,
       NULL, %(now)s
FROM generate_series(1, %(count)s) AS g
"""
# A reminder for each ticket of a prefix: ``before`` ahead of its deadline.
SEED_REMINDERS = """
INSERT INTO tickets_reminder (ticket_id, offset_minutes, fire_at, status, sent_at)
SELECT id, 60, due_at - %(before)s, 'pending', NULL
FROM tickets_ticket WHERE number LIKE %(prefix)s || '%%'
"""


def seed_tickets(
    db: Db,
    *,
    prefix: str,
    count: int,
    due: datetime,
    spread=timedelta(0),
    remind_before: timedelta | None = None,
) -> None:
    stores = [row[0] for row in db("SELECT id FROM merchants_store WHERE code LIKE 'DRILL-%%'")]
    now = datetime.now(UTC)
    db(
        SEED_TICKETS,
        {
            "prefix": prefix,
            "stores": stores,
            "due": due,
            "spread": spread,
            "count": count,
            "now": now,
        },
    )
    if remind_before is not None:
        db(SEED_REMINDERS, {"prefix": prefix, "before": remind_before})
    db("ANALYZE tickets_ticket")
    db("ANALYZE tickets_reminder")


def reset(db: Db) -> None:
    """Every drill starts from no tickets (and so no events, reminders, deliveries)."""
    db("TRUNCATE tickets_ticket RESTART IDENTITY CASCADE")


@dataclass
class Row:
    """One count of a drill. ``resent`` is for deliveries: messages the receiver got
    more than once, each time with the same delivery key."""

    what: str
    expected: int
    done: int
    doubled: int
    lost: int
    resent: int = 0

    @property
    def complete(self) -> bool:
        return self.lost == 0 and self.done == self.expected

    @property
    def ok(self) -> bool:
        return self.complete and self.doubled == 0 and self.resent <= RESENDS_TOLERATED


def escalations(db: Db, prefix: str, expected: int) -> Row:
    done, still_open = db.one(
        "SELECT count(*) FILTER (WHERE state = 'escalated'), "
        "count(*) FILTER (WHERE state = 'open' AND due_at <= now()) "
        "FROM tickets_ticket WHERE number LIKE %s || '%%'",
        [prefix],
    )
    (doubled,) = db.one(
        "SELECT count(*) FROM (SELECT ticket_id FROM tickets_ticketevent "
        "WHERE action = 'escalated' GROUP BY ticket_id HAVING count(*) > 1) AS d"
    )
    return Row("overdue tickets escalated", expected, done, doubled, still_open)


def reminders(db: Db, expected: int) -> Row:
    sent, pending = db.one(
        "SELECT count(*) FILTER (WHERE status = 'sent'), "
        "count(*) FILTER (WHERE status = 'pending' AND fire_at <= now()) FROM tickets_reminder"
    )
    (doubled,) = db.one(
        "SELECT count(*) FROM (SELECT payload->>'reminder' FROM tickets_ticketevent "
        "WHERE action = 'reminder_sent' GROUP BY 1 HAVING count(*) > 1) AS d"
    )
    return Row("reminders sent", expected, sent, doubled, pending)


# A message whose POST went out but whose worker process died (or lost the database)
# before recording it is sent again once its claim times out: at most one per worker
# process (the drills' worker has 2), and always with the same key, which a receiver
# that keeps the keys it has seen drops. Exactly once over HTTP needs that receiver.
RESENDS_TOLERATED = 2


def deliveries(db: Db, receiver: Receiver, expected: int) -> Row:
    """Done: outbox rows whose key the receiver got. Doubled: two outbox rows for one
    reminder and channel (the unique key should make it impossible)."""
    rows = db(
        "SELECT key, count(*) OVER (PARTITION BY split_part(key, ':', 2), channel) "
        "FROM tickets_delivery"
    )
    keys = receiver.keys()
    received = [key for key, _ in rows if keys.get(key)]
    doubled = sum(1 for _, copies in rows if copies > 1)
    lost = sum(1 for key, _ in rows if not keys.get(key)) + max(0, expected - len(rows))
    resent = sum(1 for key in received if keys[key] > 1)
    return Row("group-bot deliveries received", expected, len(received), doubled, lost, resent)


# --- the processes ---------------------------------------------------------------------------


class Cluster:
    """Worker, beat (and gunicorn when asked) on the private servers.

    The worker runs supervised, as in production (systemd ``Restart=always``): when it
    exits, for whatever reason, it is started again a second later, and the exit is
    recorded (``exits``) so a drill can say whether its fault needed the supervisor."""

    RESTART_AFTER = 1.0

    def __init__(self, config: Config, env: dict):
        self.config, self.env = config, env
        self.worker: subprocess.Popen | None = None
        self.beat: subprocess.Popen | None = None
        self.web: subprocess.Popen | None = None
        self.worker_starts = 0
        self.exits: list[str] = []
        self.stopping = threading.Event()
        self.supervisor = threading.Thread(target=self._supervise, daemon=True)

    def _supervise(self) -> None:
        while not self.stopping.wait(0.2):
            worker = self.worker
            if worker is None or worker.poll() is None:
                continue
            code = worker.returncode
            self.exits.append(f"signal {-code}" if code < 0 else f"exit status {code}")
            if self.stopping.wait(self.RESTART_AFTER):
                return
            self.start_worker()

    def supervisor_note(self) -> str:
        if not self.exits:
            return "no process exited or was restarted"
        return (
            f"the worker exited {len(self.exits)}× ({', '.join(self.exits)}) and was started "
            "again by its supervisor"
        )

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        with open(WORK / f"{name}.log", "a") as log:
            log.write(f"\n--- {datetime.now(UTC).isoformat()} start ---\n")
            log.flush()
            return subprocess.Popen(
                args,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_worker(self) -> None:
        self.worker_starts += 1
        if not self.supervisor.is_alive():
            self.supervisor.start()
        self.worker = self._spawn(
            "worker",
            [
                str(BIN / "celery"),
                "-A",
                "config",
                "worker",
                # The Procfile's queues: the webhooks run beside the sweeps' work.
                "-Q",
                "celery,webhooks",
                "-P",
                "prefork",
                "-c",
                "2",
                "-l",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"drill{self.worker_starts}@%h",
            ],
        )

    def start_beat(self) -> None:
        schedule = WORK / "beat-schedule"
        for stale in WORK.glob("beat-schedule*"):
            stale.unlink()
        self.beat = self._spawn(
            "beat", [str(BIN / "celery"), "-A", "config", "beat", "-l", "INFO", "-s", str(schedule)]
        )

    def start_web(self) -> str:
        self.web = self._spawn(
            "gunicorn",
            [
                str(BIN / "gunicorn"),
                "config.wsgi",
                "--worker-class",
                "gthread",
                "--workers",
                "2",
                "--threads",
                "4",
                "--bind",
                f"127.0.0.1:{self.config.web_port}",
                "--timeout",
                "60",
            ],
        )
        base = f"http://127.0.0.1:{self.config.web_port}"
        wait_http(f"{base}/accounts/login/", self.web, timeout=60)
        return base

    def kill_worker(self) -> None:
        """SIGKILL to the worker's whole process group: the main process and its pool
        (the supervisor starts it again)."""
        if self.worker and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGKILL)

    def stop(self) -> None:
        self.stopping.set()
        if self.supervisor.is_alive():
            self.supervisor.join()
        for process, name in ((self.web, "gunicorn"), (self.beat, "beat"), (self.worker, "worker")):
            stop_process(process, name)


def wait_until(check, *, timeout: float, every: float = 0.05) -> float | None:
    """Seconds until ``check()`` was true, or None on timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(every)
    return None


@dataclass
class Result:
    name: str
    fault: str
    rows: list[Row]
    recovered: float | None  # seconds from the fault to ``recovered_what``
    notes: list[str] = field(default_factory=list)
    recovered_what: str = "all done"

    @property
    def ok(self) -> bool:
        return self.recovered is not None and all(row.ok for row in self.rows)


# --- the drills ------------------------------------------------------------------------------


class Drills:
    def __init__(
        self,
        config: Config,
        db: Db,
        cluster: Cluster,
        pg: PrivatePostgres,
        redis: PrivateRedis,
        receiver: Receiver,
        token: str,
    ):
        self.config, self.db, self.cluster = config, db, cluster
        self.pg, self.broker, self.receiver, self.token = pg, redis, receiver, token

    def _escalated(self, prefix: str) -> int:
        return self.db.one(
            "SELECT count(*) FROM tickets_ticket WHERE state = 'escalated' AND number LIKE %s",
            [prefix + "%"],
        )[0]

    def _sweep_seed(self) -> None:
        reset(self.db)
        now = datetime.now(UTC)
        seed_tickets(self.db, prefix="E", count=self.config.overdue, due=now - timedelta(minutes=5))
        seed_tickets(
            self.db,
            prefix="R",
            count=self.config.reminders,
            due=now + timedelta(hours=1),
            remind_before=timedelta(minutes=61),
        )

    def _sweep_rows(self) -> list[Row]:
        return [
            escalations(self.db, "E", self.config.overdue),
            reminders(self.db, self.config.reminders),
            deliveries(self.db, self.receiver, self.config.reminders),
        ]

    def _settle(self, rows, *, since: float) -> float | None:
        """Seconds from ``since`` (the fault) until every count of ``rows()`` is
        complete, or None if that took longer than the drill's timeout."""
        done = wait_until(
            lambda: all(row.complete for row in rows()), timeout=self.config.timeout, every=0.5
        )
        return None if done is None else time.monotonic() - since

    def _mid_sweep(self, fault, label: str) -> tuple[str, float | None]:
        """Seed, start the sweep, apply ``fault`` once 10 % of the overdue tickets are
        escalated; wait until everything is done."""
        self._sweep_seed()
        self.receiver.reset()
        total = self.config.overdue
        self.cluster.start_worker()
        self.cluster.start_beat()
        waited = wait_until(lambda: self._escalated("E") >= total // 10, timeout=120)
        if waited is None:
            raise SystemExit("The sweep did not start within 120 s: see var/drills/worker.log")
        at = self._escalated("E")
        fault()
        faulted = time.monotonic()
        after = self._escalated("E")
        fault_text = f"{label} with {at:,} of {total:,} escalated (sweep still running)"
        if after >= total:
            fault_text += " — but the sweep had finished by then: not a mid-sweep fault"
        return fault_text, self._settle(self._sweep_rows, since=faulted)

    def worker_sweep(self) -> Result:
        text, recovered = self._mid_sweep(self.cluster.kill_worker, "worker SIGKILLed")
        return Result(
            "worker-sweep", text, self._sweep_rows(), recovered, [self.cluster.supervisor_note()]
        )

    def postgres_sweep(self) -> Result:
        text, recovered = self._mid_sweep(self.pg.restart, "PostgreSQL restarted (-m immediate)")
        return Result(
            "postgres-sweep",
            text,
            self._sweep_rows(),
            recovered,
            [self.cluster.supervisor_note()],
        )

    def worker_delivery(self) -> Result:
        reset(self.db)
        count = self.config.deliveries
        self.receiver.reset(delay=0.01)  # a slow bot: the batch takes a while
        seed_tickets(
            self.db,
            prefix="R",
            count=count,
            due=datetime.now(UTC) + timedelta(hours=1),
            remind_before=timedelta(minutes=61),
        )
        self.cluster.start_worker()
        self.cluster.start_beat()
        if wait_until(lambda: self.receiver.received() >= count // 5, timeout=120) is None:
            raise SystemExit("No delivery within 120 s: see var/drills/worker.log")
        at = self.receiver.received()
        self.cluster.kill_worker()
        faulted = time.monotonic()

        def rows():
            return [reminders(self.db, count), deliveries(self.db, self.receiver, count)]

        recovered = self._settle(rows, since=faulted)
        text = f"worker SIGKILLed with {at:,} of {count:,} messages received"
        return Result(
            "worker-delivery",
            text,
            rows(),
            recovered,
            [self.cluster.supervisor_note()],
        )

    def redis(self) -> Result:
        reset(self.db)
        count = self.config.reminders
        now = datetime.now(UTC)
        # Deadlines spread over 30 s from +75 s; each ticket's reminder 60 s before it:
        # reminders fall due from +15 s on, escalations from +75 s on.
        seed_tickets(
            self.db,
            prefix="E",
            count=count,
            due=now + timedelta(seconds=75),
            spread=timedelta(seconds=30),
            remind_before=timedelta(seconds=60),
        )
        self.receiver.reset()
        self.cluster.start_worker()
        self.cluster.start_beat()
        if wait_until(lambda: self.receiver.received() > 0, timeout=60) is None:
            raise SystemExit("No reminder went out within 60 s: see var/drills/worker.log")
        time.sleep(3)
        at = self.receiver.received()
        self.broker.kill()
        faulted = time.monotonic()
        time.sleep(5)
        self.broker.start()
        back = self.receiver.received()
        # Recovered: the first reminder delivered after the broker came back (the rest
        # fall due over the next minute and a half).
        resumed = wait_until(lambda: self.receiver.received() > back, timeout=self.config.timeout)
        resumed_after = None if resumed is None else time.monotonic() - faulted

        def rows():
            return [
                reminders(self.db, count),
                deliveries(self.db, self.receiver, count),
                escalations(self.db, "E", count),
            ]

        done = self._settle(rows, since=faulted)
        text = (
            f"redis-server SIGKILLed with {at:,} of {count:,} reminders delivered, started "
            "again 5 s later (empty: it keeps nothing on disk)"
        )
        return Result(
            "redis",
            text,
            rows(),
            None if done is None else resumed_after,
            [self.cluster.supervisor_note()],
            "first reminder out",
        )

    def postgres_intake(self) -> Result:
        reset(self.db)
        base = self.cluster.start_web()
        client = IntakeClients(base, self.token, seconds=self.config.intake_seconds)
        client.start()
        time.sleep(self.config.intake_seconds / 3)
        before = len(client.acked)
        stopping = time.monotonic()
        self.pg.restart()
        restarted = time.monotonic()
        down = restarted - stopping
        client.join()
        numbers = list(client.sent)
        found = Counter(
            dict(
                self.db(
                    "SELECT number, count(*) FROM tickets_ticket WHERE number = ANY(%s) "
                    "GROUP BY number",
                    [numbers],
                )
            )
        )
        acked = set(client.acked)
        rows = [
            Row(
                "intake POSTs answered 2xx, kept",
                len(acked),
                sum(1 for number in acked if found[number]),
                sum(1 for number in found if found[number] > 1),
                sum(1 for number in acked if not found[number]),
            ),
            Row(
                "numbers sent (retried until 2xx)",
                len(numbers),
                sum(1 for number in numbers if found[number]),
                0,
                sum(1 for number in numbers if not found[number]),
            ),
        ]
        first_ok = client.first_ok_after(restarted)
        first_ok = None if first_ok is None else down + first_ok
        failures = ", ".join(f"{kind} ×{n}" for kind, n in client.failures.most_common())
        notes = [
            f"{client.requests:,} requests in {self.config.intake_seconds} s; refused while "
            f"PostgreSQL was down, then retried: {failures or 'none'}",
            f"retries answered 200 because the ticket had been created although the first "
            f"answer was lost: {len(client.repeats):,}",
            self.cluster.supervisor_note() + " (gunicorn was never restarted)",
        ]
        text = (
            f"PostgreSQL restarted (-m immediate) after {before:,} tickets were opened "
            f"(down {down:.1f} s)"
        )
        return Result("postgres-intake", text, rows, first_ok, notes, "first 2xx")


class IntakeClients:
    """Threads posting new ticket numbers to the intake API for ``seconds``; a number
    that is not answered 2xx is sent again (at most for a minute) until it is."""

    def __init__(self, base: str, token: str, *, seconds: float, threads: int = 6):
        self.base, self.token, self.seconds = base, token, seconds
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]
        self.lock = threading.Lock()
        self.sent: list[str] = []
        self.acked: list[str] = []
        self.repeats: list[str] = []
        self.oks: list[float] = []
        self.failures: Counter = Counter()
        self.requests = 0
        self.run = secrets.token_hex(3).upper()

    def start(self) -> None:
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        for thread in self.threads:
            thread.join()

    def first_ok_after(self, instant: float) -> float | None:
        """Seconds from ``instant`` to the first 2xx after it."""
        later = [ok for ok in self.oks if ok > instant]
        return min(later) - instant if later else None

    def _post(self, number: str, store: str) -> int | str:
        body = json.dumps(
            {
                "number": number,
                "store_code": store,
                "order_number": number[-12:],
                "summary": "物流长时间未更新",
                "category": "logistics",
                "consumer_name": "王秀英",
                "consumer_phone": "13800138000",
            }
        ).encode()
        request = urllib.request.Request(
            f"{self.base}/api/v1/tickets",
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError as exc:
            return type(exc).__name__

    def _run(self, index: int) -> None:
        serial = 0
        while time.monotonic() - self.started < self.seconds:
            serial += 1
            number = f"DI{self.run}{index:02d}{serial:06d}"
            store = f"{STORE_PREFIX}{serial % 50:04d}"
            with self.lock:
                self.sent.append(number)
            giving_up = time.monotonic() + 60
            first = True
            while time.monotonic() < giving_up:
                status = self._post(number, store)
                with self.lock:
                    self.requests += 1
                    if status in (200, 201):
                        self.acked.append(number)
                        self.oks.append(time.monotonic())
                        if status == 200 and not first:
                            self.repeats.append(number)
                        break
                    self.failures[f"HTTP {status}" if isinstance(status, int) else status] += 1
                first = False
                time.sleep(0.2)


# --- the run ---------------------------------------------------------------------------------

DRILLS = ["worker-sweep", "worker-delivery", "postgres-sweep", "postgres-intake", "redis"]


def prepare(pg: PrivatePostgres, config: Config, receiver: Receiver) -> str:
    """Migrate the private database, create the stores (their bot is the receiver) and
    an intake token; returns the token."""
    import psycopg

    with psycopg.connect(pg.url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    import django

    django.setup()
    import io
    import warnings

    from django.core.management import call_command
    from django.db import connection

    from merchants.models import Store

    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    call_command("migrate", verbosity=0, interactive=False)
    Store.objects.bulk_create(
        Store(
            platform="taobao",
            name=f"Drill {i}",
            code=f"{STORE_PREFIX}{i:04d}",
            bot_kind="wecom",
            bot_url=receiver.url,
        )
        for i in range(config.stores)
    )
    stdout = io.StringIO()
    call_command(
        "create_api_token",
        username="drill_intake",
        name="drills",
        stdout=stdout,
        stderr=io.StringIO(),
    )
    connection.close()
    return stdout.getvalue().strip()


def report(results: list[Result], config: Config) -> str:
    lines = [
        "| drill | fault | what | expected | done | doubled | lost | resent, same key | recovery |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for result in results:
        recovered = (
            f"{result.recovered_what} {result.recovered:.1f} s after the fault"
            if result.recovered is not None
            else "**no** (timed out)"
        )
        for i, row in enumerate(result.rows):
            first = i == 0
            lines.append(
                f"| {result.name if first else ''} | {result.fault if first else ''} | "
                f"{row.what} | {row.expected:,} | {row.done:,} | {row.doubled:,} | "
                f"{row.lost:,} | {row.resent:,} | {recovered if first else ''} |"
            )
    lines.append("")
    for result in results:
        for note in result.notes:
            lines.append(f"- {result.name}: {note}")
    lines += [
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} with `make drills`; machine: {machine()}. "
        f"Private PostgreSQL and redis-server; Celery worker (prefork, 2 processes) and beat; "
        f"sweep every {config.sweep_seconds} s, delivery claims taken over after "
        f"{config.claim_seconds} s. Resent: messages the receiver got again with the same "
        f"delivery key (at most {RESENDS_TOLERATED}, one per worker process, pass).",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    names = argv or DRILLS
    unknown = sorted(set(names) - set(DRILLS))
    if unknown:
        raise SystemExit(f"Unknown drill(s) {', '.join(unknown)}; choose from {', '.join(DRILLS)}.")
    config = Config()
    WORK.mkdir(parents=True, exist_ok=True)
    for port in (config.pg_port, config.redis_port, config.web_port):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                raise SystemExit(f"Port {port} is taken: set DRILL_PG_PORT/_REDIS_PORT/_WEB_PORT.")

    pg, redis = PrivatePostgres(config.pg_port), PrivateRedis(config.redis_port)
    receiver = Receiver()
    cluster = None
    results: list[Result] = []

    def on_term(signum, frame):
        raise SystemExit(f"stopped by signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    try:
        started = time.monotonic()
        pg.start()
        redis.start()
        os.environ.update(
            DATABASE_URL=pg.url(DATABASE),
            REDIS_URL=redis.url(),
            DJANGO_SETTINGS_MODULE="config.settings",
            MEDIA_ROOT=str(WORK / "media"),
        )
        token = prepare(pg, config, receiver)
        out(
            f"private PostgreSQL on :{config.pg_port}, redis-server on :{config.redis_port}, "
            f"{config.stores} stores; ready in {time.monotonic() - started:.0f} s"
        )
        env = {
            **os.environ,
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "API_RATE_PER_SECOND": "1000000",
            "API_RATE_BURST": "1000000",
            "SWEEP_INTERVAL_SECONDS": str(config.sweep_seconds),
            "DELIVERY_CLAIM_TIMEOUT_SECONDS": str(config.claim_seconds),
            "PYTHONUNBUFFERED": "1",
        }
        db = Db(pg.url(DATABASE))
        for name in names:
            cluster = Cluster(config, env)
            drills = Drills(config, db, cluster, pg, redis, receiver, token)
            out(f"drill {name} …")
            began = time.monotonic()
            try:
                result = getattr(drills, name.replace("-", "_"))()
            finally:
                cluster.stop()
            results.append(result)
            out(
                f"drill {name}: {'passed' if result.ok else 'FAILED'} "
                f"({time.monotonic() - began:.0f} s)"
            )
    finally:
        if cluster:
            cluster.stop()
        receiver.close()
        redis.kill()
        pg.stop()
    out("")
    out(report(results, config))
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
