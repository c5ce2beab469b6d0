"""Concord's one settings module.

Every value comes from the environment through django-environ (a `.env` file in the project
root is read when present). Tests override values with pytest-django's `settings` fixture;
they never fork this module.

Two modes, chosen by `CONCORD_MODE`:

- `development` (the default, and what `make run` and `make test` use): generates a secret
  key and an encryption key once and keeps them under `var/`, DEBUG on, loopback hosts only.
- `production`: refuses to start unless SECRET_KEY, CONCORD_ENCRYPTION_KEY and ALLOWED_HOSTS
  are set, naming whichever is missing.

Without DATABASE_URL the database is SQLite under `var/`; without REDIS_URL, Celery uses
our filesystem transport (apps/core/filebroker.py) under `var/` and the cache (locks, rate
limits) is Django's database cache. With them set, PostgreSQL and Redis carry all of it.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ

from apps.config.env import ConfigError, load_or_create_key, read_bool, read_env

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(read_env(env.path, "CONCORD_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

CONCORD_MODE = read_env(env.str, "CONCORD_MODE", default="development")
if CONCORD_MODE not in ("development", "production"):
    raise ConfigError(f"CONCORD_MODE must be 'development' or 'production', not {CONCORD_MODE!r}")
PRODUCTION = CONCORD_MODE == "production"

if PRODUCTION:
    _missing = [
        name
        for name in ("SECRET_KEY", "CONCORD_ENCRYPTION_KEY", "ALLOWED_HOSTS")
        if not env.str(name, default="").strip()
    ]
    if _missing:
        raise ConfigError(
            "production mode needs these environment variables: " + ", ".join(_missing)
        )

DEBUG = read_bool("DEBUG", default=not PRODUCTION)

SECRET_KEY = env.str("SECRET_KEY", default="") or load_or_create_key(
    VAR_DIR / "secret_key", kind="django"
)

# Comma-separated Fernet keys, newest first. Values are written with the first key and read
# with any of them, so a key is rotated by prepending a new one and running
# `manage.py rotate_encryption_keys`.
CONCORD_ENCRYPTION_KEYS = [
    k.strip()
    for k in (
        env.str("CONCORD_ENCRYPTION_KEY", default="")
        or load_or_create_key(VAR_DIR / "encryption_key", kind="fernet")
    ).split(",")
    if k.strip()
]

ALLOWED_HOSTS = read_env(
    env.list, "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"]
)
CSRF_TRUSTED_ORIGINS = read_env(env.list, "CSRF_TRUSTED_ORIGINS", default=[])

# The address external systems use to reach this instance (webhook URLs are built from it).
CONCORD_PUBLIC_URL = read_env(
    env.url, "CONCORD_PUBLIC_URL", default=f"http://127.0.0.1:{env.int('PORT', default=8000)}"
).geturl()

# Development only: where `make run` starts the sandbox that the demo's connections use.
CONCORD_SANDBOX_URL = f"http://127.0.0.1:{read_env(env.int, 'SANDBOX_PORT', default=8100)}"

# Development only: the demo's activity simulator (apps/dashboard/simulator.py) makes one
# realistic edit in the demo's sandboxes every CONCORD_DEMO_ACTIVITY_EVERY seconds, and now
# and then a conflict. On by default in development; CONCORD_DEMO_ACTIVITY=false turns it off.
CONCORD_DEMO_ACTIVITY = read_bool("CONCORD_DEMO_ACTIVITY", default=not PRODUCTION)
CONCORD_DEMO_ACTIVITY_EVERY = read_env(env.float, "CONCORD_DEMO_ACTIVITY_EVERY", default=5.0)
if CONCORD_DEMO_ACTIVITY and PRODUCTION:
    raise ConfigError(
        "CONCORD_DEMO_ACTIVITY edits the demo's sandboxes and is for development only: "
        "unset it (or set it to false) in production"
    )
if CONCORD_DEMO_ACTIVITY_EVERY < 1:
    raise ConfigError(
        "CONCORD_DEMO_ACTIVITY_EVERY must be at least 1 (seconds), "
        f"not {CONCORD_DEMO_ACTIVITY_EVERY:g}"
    )

# Networks that connection base URLs may resolve to besides public addresses (CIDRs).
# Development allows loopback so the sandboxes can be reached.
CONCORD_ALLOWED_PRIVATE_NETWORKS = read_env(
    env.list,
    "CONCORD_ALLOWED_PRIVATE_NETWORKS",
    default=[] if PRODUCTION else ["127.0.0.0/8", "::1/128"],
)

# Webhook bodies above this many bytes are refused with 413 before anything is read.
CONCORD_WEBHOOK_MAX_BYTES = read_env(env.int, "CONCORD_WEBHOOK_MAX_BYTES", default=1024 * 1024)
# A stored delivery still unprocessed this many seconds after it arrived (its processing
# message could not be sent or was lost) is processed by the sweep, which runs every
# CONCORD_WEBHOOK_SWEEP_EVERY seconds.
CONCORD_WEBHOOK_SWEEP_AFTER = read_env(env.float, "CONCORD_WEBHOOK_SWEEP_AFTER", default=15.0)
CONCORD_WEBHOOK_SWEEP_EVERY = read_env(env.float, "CONCORD_WEBHOOK_SWEEP_EVERY", default=10.0)

# --- Runs -------------------------------------------------------------------------------------
# A run holds its sync's lease for this long and renews it at every heartbeat (at a page's
# end or after an API call, every CONCORD_RUN_HEARTBEAT_EVERY seconds); a run whose lease
# ran out (its worker died) is requeued by the sweeper at its next tick. So a dead worker's
# run is taken up again within CONCORD_RUN_LOCK_TTL + CONCORD_DISPATCH_EVERY seconds (25 by
# default). The lease must outlast several heartbeats, and a single API call should finish
# within it (the HTTP layer's timeouts), or a slow but live run is taken over and stops.
CONCORD_RUN_LOCK_TTL = read_env(env.int, "CONCORD_RUN_LOCK_TTL", default=20)
CONCORD_RUN_HEARTBEAT_EVERY = read_env(env.float, "CONCORD_RUN_HEARTBEAT_EVERY", default=5.0)
if CONCORD_RUN_LOCK_TTL < 3 * CONCORD_RUN_HEARTBEAT_EVERY:
    raise ConfigError(
        "CONCORD_RUN_LOCK_TTL must be at least three heartbeats "
        f"(3 x CONCORD_RUN_HEARTBEAT_EVERY = {3 * CONCORD_RUN_HEARTBEAT_EVERY:g}s), "
        f"not {CONCORD_RUN_LOCK_TTL}"
    )
CONCORD_RUN_MAX_ATTEMPTS = read_env(env.int, "CONCORD_RUN_MAX_ATTEMPTS", default=5)
# Records a run plans and applies together (consecutive feed pages joined up to this many):
# its counters, cursor and cancel checks move once per batch.
CONCORD_RUN_BATCH_SIZE = read_env(env.int, "CONCORD_RUN_BATCH_SIZE", default=1000)
# A worker that finishes a run executes the sync's next queued run in the same task, up to
# this many in a row before it sends the next one through the broker (fairness to others).
CONCORD_RUN_CHAIN = read_env(env.int, "CONCORD_RUN_CHAIN", default=20)
# Writes a system does in a background job (Zendesk's bulk jobs) are not waited for under
# the sync's lease: the run stores them in flight and a settling run of the sync is queued
# this many seconds later, then again with the delay doubled while jobs are still running,
# up to CONCORD_SETTLE_MAX_DELAY (apps/runs/settling.py).
CONCORD_SETTLE_DELAY = read_env(env.float, "CONCORD_SETTLE_DELAY", default=1.0)
CONCORD_SETTLE_MAX_DELAY = read_env(env.float, "CONCORD_SETTLE_MAX_DELAY", default=60.0)
CONCORD_RUN_RETRY_BASE_DELAY = read_env(env.float, "CONCORD_RUN_RETRY_BASE_DELAY", default=2.0)
CONCORD_RUN_RETRY_MAX_DELAY = read_env(env.float, "CONCORD_RUN_RETRY_MAX_DELAY", default=300.0)
# A queued run whose message was sent this long ago (or, never sent, that was queued this
# long ago) is sent again: its message was lost. Triggers folding into it do not delay this.
CONCORD_RUN_REDISPATCH_AFTER = read_env(env.int, "CONCORD_RUN_REDISPATCH_AFTER", default=30)
# A run interrupted by a database outage waits this long (seconds) for the database to come
# back, then runs again by itself; past it the worker gives up and the sweeper takes over.
CONCORD_RUN_DATABASE_WAIT = read_env(env.float, "CONCORD_RUN_DATABASE_WAIT", default=600.0)
CONCORD_DISPATCH_EVERY = read_env(env.float, "CONCORD_DISPATCH_EVERY", default=5.0)
CONCORD_EVENT_RETENTION_DAYS = read_env(env.int, "CONCORD_EVENT_RETENTION_DAYS", default=30)
CONCORD_SYNC_MAX_FAILURES = read_env(env.int, "CONCORD_SYNC_MAX_FAILURES", default=5)
# Finished previews (apps/syncs/previews.py) are deleted this long after they were asked for.
CONCORD_PREVIEW_RETENTION_HOURS = read_env(env.int, "CONCORD_PREVIEW_RETENTION_HOURS", default=24)

# The request budget per connection shared by all workers (on top of each connector's own
# handling of the system's 429s): requests per window of seconds. 20 per 2 s is 100 per
# 10 s (HubSpot's burst limit for private apps) counted in short windows: a burst that spends
# a window makes the calls behind it wait at most 2 s, not up to 10.
CONCORD_CONNECTION_REQUESTS_PER_WINDOW = read_env(
    env.int, "CONCORD_CONNECTION_REQUESTS_PER_WINDOW", default=20
)
CONCORD_CONNECTION_RATE_WINDOW = read_env(env.float, "CONCORD_CONNECTION_RATE_WINDOW", default=2.0)
# How long what field discovery found is kept per connection and object type (seconds; 0:
# every run asks the systems again). Saving the connection or a write refused over a field
# drops it sooner (apps/connections/discovery.py).
CONCORD_FIELD_CACHE_SECONDS = read_env(env.float, "CONCORD_FIELD_CACHE_SECONDS", default=300.0)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "drf_spectacular",
    # Swagger UI's and Redoc's files, served as our own static files (SPECTACULAR_SETTINGS).
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "apps.core",
    "apps.accounts",
    "apps.connections",
    "apps.syncs",
    "apps.runs",
    "apps.webhooks",
    "apps.dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.accounts.middleware.WorkspaceMiddleware",
    # Last, as django-axes asks: turns a lockout into the login page's 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "apps.config.urls"
WSGI_APPLICATION = "apps.config.wsgi.application"
ASGI_APPLICATION = "apps.config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.accounts.context_processors.workspace",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": read_env(
        env.db_url, "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'concord.sqlite3'}"
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # web, worker and beat are separate processes on one file. WAL lets readers run beside
    # the writer; IMMEDIATE takes the write lock at BEGIN, so two writers queue on the busy
    # timeout instead of one failing half-way with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Tests that start a real worker process need a file both processes can open; one file
    # per test session, so that two sessions on one checkout never share a database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-concord-{os.getpid()}.sqlite3")}
# Connections are kept between requests and tasks: opening one per webhook (and, on SQLite,
# running the PRAGMAs above each time) was a sixth of the web's time under sustained load.
DATABASES["default"]["CONN_MAX_AGE"] = read_env(env.int, "CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, cache -----------------------------------------------------------------------------
REDIS_URL = read_env(env.str, "REDIS_URL", default="") or None
# pytest-xdist runs the test suite in several processes at once (PYTEST_XDIST_WORKER is
# "gw0", "gw1", ...). pytest-django gives each its own test database; each also gets a Redis
# database and a broker folder of its own, so that the Celery workers one test process
# starts never take another's messages. Those workers inherit the variable, so they agree.
TEST_PROCESS = os.environ.get("PYTEST_XDIST_WORKER", "")
if REDIS_URL:
    read_env(env.url, "REDIS_URL")  # fail on a malformed URL, naming the variable
    if TEST_PROCESS:
        _redis = urlsplit(REDIS_URL)
        _db = int(_redis.path.strip("/") or 0) + 1 + int(TEST_PROCESS.removeprefix("gw"))
        REDIS_URL = urlunsplit(_redis._replace(path=f"/{_db}"))
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "concord",
            # A Redis that went away fails a call within seconds instead of hanging it; a
            # connection idle past the health check is tested before use.
            "OPTIONS": {
                "socket_connect_timeout": 2,
                "socket_timeout": 5,
                "health_check_interval": 10,
            },
        }
    }
else:
    # The database cache is shared by web, worker and beat (a file or locmem cache would not
    # be); its table is created by a migration in apps.core.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "concord_cache",
        }
    }

# --- Celery -----------------------------------------------------------------------------------
CELERY_TASK_TIME_LIMIT = read_env(env.int, "CELERY_TASK_TIME_LIMIT", default=30 * 60)
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    # Redis redelivers a message that was not acknowledged within the visibility timeout. It
    # must outlast the longest task, or a long run would be delivered to a second worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_TASK_TIME_LIMIT + 15 * 60,
        # Fail fast on a dead connection (the worker then reconnects) and probe idle ones.
        "socket_connect_timeout": 5,
        "socket_timeout": 30,
        "health_check_interval": 10,
    }
    # Riding out a Redis outage: the worker reconnects forever (every few seconds at most),
    # and so does the result backend, never giving up and exiting. Task messages are sent
    # without subscribing to results (apps/core/broker.py), so a sender never waits on it.
    CELERY_BROKER_CONNECTION_RETRY = True
    CELERY_BROKER_CONNECTION_MAX_RETRIES = None
    CELERY_BROKER_CONNECTION_TIMEOUT = 5
    CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 5
    CELERY_REDIS_SOCKET_TIMEOUT = 30
    CELERY_REDIS_BACKEND_HEALTH_CHECK_INTERVAL = 10
    CELERY_REDIS_RETRY_ON_TIMEOUT = True
    CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
    CELERY_RESULT_BACKEND_MAX_RETRIES = 10
else:
    _celery_dir = VAR_DIR / "celery" / TEST_PROCESS if TEST_PROCESS else VAR_DIR / "celery"
    for _sub in ("queue", "claimed", "corrupt", "processed", "results", "control"):
        (_celery_dir / _sub).mkdir(parents=True, exist_ok=True)
    # Our own filesystem transport (apps/core/filebroker.py): kombu's writes a message under
    # its final name and reads without a lock, and a worker that read a half-written one
    # died ("Unrecoverable error: JSONDecodeError"). Ours publishes and claims by rename.
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT = "apps.core.filebroker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "queue"),
        "data_folder_out": str(_celery_dir / "queue"),
        "processed_folder": str(_celery_dir / "processed"),
        # A consumer renames the message it takes into claimed/ (one filesystem: atomic);
        # one that does not decode goes to corrupt/ with an error in the worker's log.
        "claim_folder": str(_celery_dir / "claimed"),
        "corrupt_folder": str(_celery_dir / "corrupt"),
        # Without this kombu writes broadcast state to ./control in the working directory.
        "control_folder": str(_celery_dir / "control"),
        "store_processed": False,
        # The transport polls its folder; kombu's default of 1 s would add up to a second
        # per hop (webhook -> processing task -> run) to the freshness of a change.
        "polling_interval": 0.05,
    }
    CELERY_RESULT_BACKEND = f"file://{_celery_dir / 'results'}"
# JSON only: a pickle message from whoever can reach the broker would run code in a worker.
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Explicit limits: a task that hangs is told to stop (soft) and then killed (hard).
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
# Sync runs are long; a worker holding several unstarted messages would delay them while
# idle workers wait. Prefetch one, acknowledge late so a killed worker's task is redelivered.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_IGNORE_RESULT = True  # tasks that need a result ask for it explicitly
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery's Django fixup closes the database connection around every task unless this is set
# (then only every 2 x this many tasks); apps/config/celery.py applies CONN_MAX_AGE instead.
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Fixed entries only: schedules of syncs are rows (Sync.next_run_at), handed out by the
# dispatcher, which also sweeps runs whose worker died.
CELERY_BEAT_SCHEDULE = {
    "dispatch-due-syncs": {"task": "runs.dispatch", "schedule": CONCORD_DISPATCH_EVERY},
    "sweep-webhook-deliveries": {"task": "webhooks.sweep", "schedule": CONCORD_WEBHOOK_SWEEP_EVERY},
    "check-webhook-arrivals": {"task": "webhooks.check_arrivals", "schedule": 60.0},
    "prune-old-run-events": {"task": "runs.prune", "schedule": 24 * 3600.0},
    "prune-old-webhook-deliveries": {"task": "webhooks.prune", "schedule": 24 * 3600.0},
    "prune-old-previews": {"task": "syncs.prune_previews", "schedule": 3600.0},
}
if CONCORD_DEMO_ACTIVITY:
    CELERY_BEAT_SCHEDULE["demo-activity"] = {
        "task": "dashboard.demo_activity",
        "schedule": CONCORD_DEMO_ACTIVITY_EVERY,
    }
CELERY_TIMEZONE = "UTC"

# --- Brakes on guessing (apps/accounts/lockout.py) -------------------------------------------
# After this many wrong passwords for one account from one address, that account is locked
# from that address for CONCORD_LOGIN_LOCKOUT_MINUTES (dashboard and admin login alike).
CONCORD_LOGIN_FAILURE_LIMIT = read_env(env.int, "CONCORD_LOGIN_FAILURE_LIMIT", default=10)
CONCORD_LOGIN_LOCKOUT_MINUTES = read_env(env.int, "CONCORD_LOGIN_LOCKOUT_MINUTES", default=15)
# Failed API token authentications per address and minute before it is answered 429.
CONCORD_TOKEN_FAILURE_LIMIT = read_env(env.int, "CONCORD_TOKEN_FAILURE_LIMIT", default=10)
# How many proxies in front of Concord append the address they saw to X-Forwarded-For. 0: the
# client's address is REMOTE_ADDR and the header is ignored (anyone can write one).
CONCORD_TRUSTED_PROXY_COUNT = read_env(env.int, "CONCORD_TRUSTED_PROXY_COUNT", default=0)
for _name in (
    "CONCORD_LOGIN_FAILURE_LIMIT",
    "CONCORD_LOGIN_LOCKOUT_MINUTES",
    "CONCORD_TOKEN_FAILURE_LIMIT",
    "CONCORD_TRUSTED_PROXY_COUNT",
):
    if globals()[_name] < 0:
        raise ConfigError(f"{_name} must be 0 or more, not {globals()[_name]}")
if CONCORD_LOGIN_FAILURE_LIMIT and not CONCORD_LOGIN_LOCKOUT_MINUTES:
    raise ConfigError(
        "CONCORD_LOGIN_LOCKOUT_MINUTES must be at least 1 while CONCORD_LOGIN_FAILURE_LIMIT "
        "locks accounts out (set the limit to 0 to turn the lockout off)"
    )

AXES_ENABLED = CONCORD_LOGIN_FAILURE_LIMIT > 0
AXES_FAILURE_LIMIT = CONCORD_LOGIN_FAILURE_LIMIT or 1
AXES_COOLOFF_TIME = timedelta(minutes=CONCORD_LOGIN_LOCKOUT_MINUTES)
# By account *and* address: a guesser cannot lock a person out from their own address.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Attempts during a lockout do not extend it: it ends CONCORD_LOGIN_LOCKOUT_MINUTES after
# the failure that started it, as the message says.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "apps.accounts.lockout.client_ip"
AXES_USERNAME_CALLABLE = "apps.accounts.lockout.login_username"
AXES_LOCKOUT_CALLABLE = "apps.accounts.lockout.lockout_response"
# Failed attempts are kept (AccessAttempt, visible in the admin) until they expire; a log
# row for every successful login would grow without end.
AXES_DISABLE_ACCESS_LOG = True

# --- Auth, i18n, static -----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The lockout check runs before the password check (apps/accounts/lockout.py).
AUTHENTICATION_BACKENDS = [
    "apps.accounts.lockout.LoginLockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = read_env(env.path, "STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
# In development WhiteNoise serves straight from the source folders, so no collectstatic.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

if PRODUCTION:
    SESSION_COOKIE_SECURE = read_bool("SECURE_COOKIES", default=True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_CONTENT_TYPE_NOSNIFF = True


# --- API --------------------------------------------------------------------------------------
def _throttle_rate(name: str, *, default: str) -> str:
    value = read_env(env.str, name, default=default).strip()
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ConfigError(
            f"environment variable {name} must look like 600/minute "
            f"(per second, minute, hour or day), not {value[:40]!r}"
        )
    return value


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.WorkspaceTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "apps.core.api.ConcordAutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.api_defaults.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api_defaults.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.core.api_defaults.UserThrottle",
        "apps.core.api_defaults.AnonThrottle",
    ],
    # "<requests>/<second|minute|hour|day>"; per user (tokens and sessions) and per address.
    # The anonymous throttle counts per address: the same trusted-proxy rule as the login
    # lockout (DRF's default would believe any X-Forwarded-For).
    "NUM_PROXIES": CONCORD_TRUSTED_PROXY_COUNT,
    "DEFAULT_THROTTLE_RATES": {
        "user": _throttle_rate("CONCORD_API_RATE_USER", default="1200/minute"),
        "anon": _throttle_rate("CONCORD_API_RATE_ANON", default="120/minute"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Concord API",
    "DESCRIPTION": "Two-way sync between CRM and ticketing systems.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/docs/ loads Swagger UI from this instance's static files, pinned by the lock file,
    # never from a CDN: a self-hosted instance without internet access still shows it.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Separate request and response components, so write-only inputs (secrets) and
    # read-only outputs are described exactly as they behave.
    "COMPONENT_SPLIT_REQUEST": True,
    # Stable names for choice sets that several models call "status" (or "resolution",
    # "kind_a"/"kind_b"), instead of hash-suffixed ones that change when a set changes.
    "ENUM_NAME_OVERRIDES": {
        "ConnectionStatusEnum": "apps.connections.models.Connection.Status",
        "ConflictStatusEnum": "apps.syncs.models.Conflict.Status",
        "ConflictResolutionEnum": "apps.syncs.models.Conflict.Resolution",
        "RunStatusEnum": "apps.runs.models.SyncRun.Status",
        "WebhookDeliveryStatusEnum": "apps.webhooks.models.WebhookDelivery.Status",
        "ValueKindEnum": "apps.syncs.api.serializers.KIND_CHOICES",
        "ResolutionChoiceEnum": "apps.syncs.api.serializers.RESOLUTION_CHOICES",
    },
}

# --- Logging ----------------------------------------------------------------------------------
LOG_LEVEL = read_env(env.str, "LOG_LEVEL", default="INFO").upper()
# Periodic ticks whose "received" / "succeeded" / "sent" lines are DEBUG, not INFO: every few
# seconds they would bury the runs, webhooks and errors in the console. Their failures and
# every other task's lines keep their level.
QUIET_TASKS = [
    "runs.dispatch",
    "webhooks.sweep",
    "webhooks.check_arrivals",
    "dashboard.demo_activity",
]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"quiet_tasks": {"()": "apps.config.logs.QuietTasks", "tasks": QUIET_TASKS}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "celery.worker.strategy": {"filters": ["quiet_tasks"]},
        "celery.app.trace": {"filters": ["quiet_tasks"]},
        "celery.beat": {"filters": ["quiet_tasks"]},
    },
}
