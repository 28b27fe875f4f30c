"""Xietong settings: one module, switched by environment variables.

With nothing configured the app runs on embedded defaults (a SQLite file and a
file-system Celery broker) so a newcomer can try it at once; production and CI
set DATABASE_URL and REDIS_URL to PostgreSQL and Redis.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("XIETONG_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env(
    DEBUG=(bool, False),
    REQUIRE_SERVICES=(bool, False),
)
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

# XIETONG_ENV=production demands a real SECRET_KEY; anywhere else a fixed
# development key keeps `make run` and `make test` free of set-up.
PRODUCTION = env.str("XIETONG_ENV", default="development") == "production"
DEBUG = env("DEBUG")
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if PRODUCTION:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("XIETONG_ENV=production needs SECRET_KEY.")
    SECRET_KEY = "dev-insecure-xietong-key-do-not-use-in-production"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "config.apps.XietongAdminConfig",  # django.contrib.admin, our site (config/admin.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "csp",
    "merchants",
    "tickets",
    "arbitration",
    "audit",
    "integration",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "audit.middleware.AuditMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tickets.context.dashboard",
            ],
            # config is not an app, so its tags are named here.
            "libraries": {"xietong_admin_list": "config.admin_list"},
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

SILENCED_SYSTEM_CHECKS: list[str] = []

# Database: PostgreSQL in production and CI; a SQLite file when nothing is configured.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let web, worker and beat share the file in `make run`.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # The covering indexes' extra columns (INCLUDE) are PostgreSQL's; SQLite builds the
    # same indexes without them, which is all the embedded default needs.
    SILENCED_SYSTEM_CHECKS.append("models.W040")
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Tuned for short queries: PostgreSQL's JIT compiled a page's aggregates (the
    # queue's tab counts) for ~15 ms to save less (bench_pages at 1 M: the default queue
    # 170 → 121 ms p95); parallel workers cost a page ~4 ms to start and take the
    # cores other requests need (the queue's overdue count: 20 → 5 ms). DATABASE_JIT=1
    # and DATABASE_PARALLEL=1 turn either back on.
    server_options = []
    if not env.bool("DATABASE_JIT", default=False):
        server_options.append("-c jit=off")
    if not env.bool("DATABASE_PARALLEL", default=False):
        server_options.append("-c max_parallel_workers_per_gather=0")
    if server_options:
        DATABASES["default"].setdefault("OPTIONS", {})["options"] = " ".join(server_options)
    # Persistent connections: a new one per request cost a server-side fork and, under
    # `make soak`, ~22 % of the machine's CPU in the kernel. Checked before reuse, so a
    # restarted server costs one failed check, not an error (`make drills`). Off under
    # DEBUG: runserver's thread per request would only leave them to linger.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int(
        "DATABASE_CONN_MAX_AGE", default=0 if DEBUG else 60
    )
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes first: it refuses a locked-out username+IP before a password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Time: store UTC, show Asia/Shanghai (SPEC.md).
TIME_ZONE = "Asia/Shanghai"
USE_TZ = True

# Merchants read Chinese first; English is switchable.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
USE_I18N = True
LOCALE_PATHS = [BASE_DIR / "locale"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if not PRODUCTION
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"  # never served directly: evidence goes through access-checked views

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="xietong@localhost")

# Celery: Redis when REDIS_URL is set; otherwise kombu's filesystem transport,
# which needs no server and works across separate worker and beat processes.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # kombu's Redis transport, but a lost connection does not stop the worker.
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
else:
    _broker_dir = VAR_DIR / "celery" / "broker"
    _processed_dir = VAR_DIR / "celery" / "processed"
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_processed_dir),
        "control_folder": str(VAR_DIR / "celery" / "control"),
        "store_processed": False,
    }
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True


# The cache: Redis when REDIS_URL is set (shared by every web process: the API's rate
# limit counts across workers), else this process's memory.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "xietong",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Login throttling (django-axes, the database handler): AXES_FAILURE_LIMIT wrong passwords
# for one username from one IP lock that pair out for AXES_COOLOFF_MINUTES; another user,
# or the same user from elsewhere, still logs in. A good login resets the count.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The lock lasts its 15 minutes from the lockout: retrying meanwhile does not extend it.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "config.lockout.login_locked_out"
# Its start-up banner on every command is noise; lockouts are still logged.
AXES_VERBOSE = False
# No axes pages in the admin (they have no Chinese): `manage.py axes_reset_username NAME`.
AXES_ENABLE_ADMIN = False
# Behind a proxy the client's address is the proxy's: set AXES_IPWARE_PROXY_COUNT (the
# number of proxies in front of Django) so axes reads it from X-Forwarded-For instead.
# Without one, only REMOTE_ADDR: a client could write any X-Forwarded-For it likes.
AXES_IPWARE_PROXY_COUNT = env.int("AXES_IPWARE_PROXY_COUNT", default=None)
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)

# The intake API's rate limit: a token bucket per API token (tickets.api.TokenBucketThrottle),
# refilled at API_RATE_PER_SECOND, holding up to API_RATE_BURST requests.
API_RATE_LIMIT = {
    "rate": env.float("API_RATE_PER_SECOND", default=20),
    "burst": env.int("API_RATE_BURST", default=40),
}

# Tests that need PostgreSQL or Redis fail instead of skipping when this is set (CI).
REQUIRE_SERVICES = env("REQUIRE_SERVICES")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# Outside production, WhiteNoise serves straight from the app folders (no collectstatic).
WHITENOISE_USE_FINDERS = not PRODUCTION
if PRODUCTION:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    # HTTPS only: a year of HSTS for this host and its subdomains. Not preloaded: the preload
    # list is hard to leave, and a deployment's other subdomains may not all be HTTPS yet.
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS.append("security.W021")  # not preloading is the choice above
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Behind a TLS-terminating proxy (nginx, a load balancer) that sets X-Forwarded-Proto
    # and strips any the client sent: SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO,https.
    # Never set it without such a proxy: a client could then claim HTTPS itself.
    if env.str("SECURE_PROXY_SSL_HEADER", default=""):
        SECURE_PROXY_SSL_HEADER = tuple(env.list("SECURE_PROXY_SSL_HEADER"))
# Cookies JavaScript never needs: the session, and the CSRF token (htmx sends the token
# from the page, <body hx-headers>, not from the cookie).
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
# No framing by default; the views that show evidence in an <iframe> of our own pages
# say SAMEORIGIN themselves (xframe_options_sameorigin).
X_FRAME_OPTIONS = "DENY"

# Content-Security-Policy (django-csp 4): scripts only from our own static files, no inline
# script or event-handler attribute anywhere (static/js/dashboard.js does the page's
# wiring). Inline styles stay allowed: the admin's templates and some pages carry style
# attributes and <style> blocks, which cannot run code. A view that sends its own header
# (the evidence files' "sandbox") keeps it: the middleware never overwrites one.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
    },
}

# Evidence uploads: the size limit (SPEC.md: size and type limits; 20 MB default).
EVIDENCE_MAX_BYTES = env.int("EVIDENCE_MAX_BYTES", default=20 * 1024 * 1024)
# Request bodies other than uploaded files (forms, API JSON); larger -> 413/400 unread.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024


def _web_port() -> int:
    """The port `make run` serves on: PORT (8000 unless `PORT=8001 make run`).

    Honcho, which runs the Procfile, gives each line its own PORT: the base for the
    first, +100 per line after it (worker 8100, beat 8200) and +1 per extra copy. The
    worker writes the reminder links, so they must still name the web line's port.
    """
    port = env.int("PORT", default=8000)
    kind, _, copy = env.str("HONCHO_PROCESS_NAME", default="").partition(".")  # "worker.1"
    procfile = BASE_DIR / "Procfile"
    if kind and copy.isdigit() and procfile.exists():
        lines = procfile.read_text().splitlines()
        kinds = [line.split(":", 1)[0] for line in lines if ":" in line and line[0].isalnum()]
        if kind in kinds and "web" in kinds:
            port += 100 * (kinds.index("web") - kinds.index(kind)) - (int(copy) - 1)
    return port


# Links in emails and group-bot messages point here; SITE_URL, when set, wins.
SITE_URL = env.str("SITE_URL", default=f"http://127.0.0.1:{_web_port()}")
BOT_TIMEOUT_SECONDS = env.float("BOT_TIMEOUT_SECONDS", default=5.0)

# Live updates (tickets/live.py): Server-Sent Events streams of the dashboard. Each
# stream lasts LIVE_STREAM_SECONDS, then the browser reconnects with Last-Event-ID.
LIVE_STREAM_SECONDS = env.float("LIVE_STREAM_SECONDS", default=55)
LIVE_POLL_SECONDS = env.float("LIVE_POLL_SECONDS", default=1.5)  # without Redis
LIVE_FALLBACK_SECONDS = env.float("LIVE_FALLBACK_SECONDS", default=15)  # with Redis
LIVE_KEEPALIVE_SECONDS = env.float("LIVE_KEEPALIVE_SECONDS", default=15)
LIVE_RETRY_MS = env.int("LIVE_RETRY_MS", default=1500)

# The deadline sweep (reminders, escalation, auto-confirm): every minute by default.
SWEEP_INTERVAL_SECONDS = env.int("SWEEP_INTERVAL_SECONDS", default=60)
SWEEP_BATCH_SIZE = env.int("SWEEP_BATCH_SIZE", default=5000)
# A delivery claimed this long ago by a worker that never finished (killed, or cut off
# from the database) is taken over by the sweep; also how long a fresh delivery waits
# for its after-commit message before the sweep queues it again. `make drills` shortens it.
DELIVERY_CLAIM_TIMEOUT_SECONDS = env.int("DELIVERY_CLAIM_TIMEOUT_SECONDS", default=300)
# Webhooks (integration/services.py): beat looks for subscribers to deliver to every
# WEBHOOK_DISPATCH_INTERVAL_SECONDS; each run sends at most WEBHOOK_RUN_MAX_EVENTS events
# or runs WEBHOOK_RUN_MAX_SECONDS (then queues its sequel), each POST waiting at most
# WEBHOOK_TIMEOUT_SECONDS. A failure backs off 10 s, 20 s, … up to an hour; after
# WEBHOOK_PAUSE_AFTER_FAILURES in a row the subscriber is paused and ADMINS are mailed.
# A run's lease must outlast a whole run: budget + one POST's timeout, with room.
WEBHOOK_DISPATCH_INTERVAL_SECONDS = env.int("WEBHOOK_DISPATCH_INTERVAL_SECONDS", default=10)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
WEBHOOK_RUN_MAX_EVENTS = env.int("WEBHOOK_RUN_MAX_EVENTS", default=500)
WEBHOOK_RUN_MAX_SECONDS = env.float("WEBHOOK_RUN_MAX_SECONDS", default=20.0)
WEBHOOK_CLAIM_TIMEOUT_SECONDS = env.int("WEBHOOK_CLAIM_TIMEOUT_SECONDS", default=120)
WEBHOOK_BACKOFF_BASE_SECONDS = env.int("WEBHOOK_BACKOFF_BASE_SECONDS", default=10)
WEBHOOK_BACKOFF_MAX_SECONDS = env.int("WEBHOOK_BACKOFF_MAX_SECONDS", default=3600)
WEBHOOK_PAUSE_AFTER_FAILURES = env.int("WEBHOOK_PAUSE_AFTER_FAILURES", default=8)
# The event feed waits behind any transaction of the server that is still open (never
# skips: integration/feed.py); one open longer than this is logged every minute, by pid.
FEED_STALL_WARN_SECONDS = env.int("FEED_STALL_WARN_SECONDS", default=300)
# Ops who hear of a paused subscriber (mail_admins): ADMINS=ops@example.com,oncall@example.com
ADMINS = [(email, email) for email in env.list("ADMINS", default=[])]
# Webhook runs wait on other people's servers: their own queue, so a burst of them never
# sits in front of the sweep (the Procfile's worker consumes both queues).
CELERY_TASK_ROUTES = {"integration.tasks.webhook_deliver": {"queue": "webhooks"}}

CELERY_BEAT_SCHEDULE = {
    "webhook-dispatch": {
        "task": "integration.tasks.webhook_dispatch",
        "schedule": WEBHOOK_DISPATCH_INTERVAL_SECONDS,
        "options": {"expires": WEBHOOK_DISPATCH_INTERVAL_SECONDS},
    },
    "feed-watch": {
        "task": "integration.tasks.feed_watch",
        "schedule": 60,
        "options": {"expires": 60},
    },
    "sweep-deadlines": {
        "task": "tickets.tasks.sweep_deadlines",
        "schedule": SWEEP_INTERVAL_SECONDS,
        # A sweep that could not start within one interval is replaced by the next one.
        "options": {"expires": SWEEP_INTERVAL_SECONDS},
    },
    # Yesterday's store reports at 02:00 Asia/Shanghai (CELERY_TIMEZONE is local time).
    "nightly-reports": {
        "task": "arbitration.tasks.nightly_reports",
        "schedule": crontab(hour=2, minute=0),
        "options": {"expires": 6 * 3600},
    },
    # The CS API's idempotency keys are kept 24 h (tickets/idempotency.py).
    "purge-idempotency-keys": {
        "task": "tickets.tasks.purge_idempotency_keys",
        "schedule": crontab(hour=4, minute=0),
        "options": {"expires": 6 * 3600},
    },
    # Last month's JD settlement statements, after that night's report.
    "monthly-settlement": {
        "task": "arbitration.tasks.monthly_settlement",
        "schedule": crontab(day_of_month=1, hour=3, minute=0),
        "options": {"expires": 6 * 3600},
    },
}
