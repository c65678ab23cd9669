"""Settings, read from the environment.

With nothing set, Gouvernail runs on the embedded default: SQLite, a Celery broker that needs no
server, DEBUG on. Production differs only by environment variables (see docs/operations.md).
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("GOUVERNAIL_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)
_INSECURE_KEY = "django-insecure-gouvernail-embedded-default-key-do-not-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default=_INSECURE_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

if not DEBUG:
    # Fail loud at start-up rather than serve production with a guessable key or any Host header.
    if SECRET_KEY == _INSECURE_KEY or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
        raise ImproperlyConfigured(
            "DEBUG is off: set SECRET_KEY to a random string of at least 50 characters "
            '(python -c "import secrets; print(secrets.token_urlsafe(64))").'
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DEBUG is off: set ALLOWED_HOSTS to the host names that serve Gouvernail.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "django_celery_beat",  # schedules (cron) of source scans, stored in the database
    "catalog",
    "profiling",
    "lineage",
    "governance",
    "config",  # the project's own commands: load_demo (the demo data of all four apps)
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Right after SecurityMiddleware, as WhiteNoise asks: static files are answered before the rest.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before the rest: a lineage read's time budget counts from here (X-Lineage-Pending is set here).
    "lineage.middleware.LineagePendingHeaderMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "config.middleware.ApiQueryLimitMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After authentication: a user signed in through the OpenID provider is sent back to it (silently)
    # every OIDC_RENEW_SECONDS, and loses the session if the provider no longer lets them in.
    "config.oidc_login.SessionRefresh",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it answers a locked-out login attempt.
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy (django-csp): scripts and styles from this site only, no inline script
# (the pages use static/gouvernail/*.js and htmx, with no hx-on attributes or onclick handlers);
# inline style attributes stay allowed (bars and swatches are sized in the templates). Swagger UI
# is served by drf-spectacular's split view, whose start-up script is a file, not inline.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "config.oidc_login.login_options",
            ],
        },
    },
]

# Database: an SQLite file in the project unless DATABASE_URL says otherwise.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'gouvernail.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the worker read while the other writes; the timeout makes a
    # writer wait for the lock instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
        }
    )
else:
    # A bounded pool per process (Django 5.2 + psycopg_pool): however many threads the web server
    # runs, one process never holds more than DB_POOL_MAX_SIZE connections, so threads wait for a
    # free one (DB_POOL_TIMEOUT seconds, then 503 with Retry-After) instead of PostgreSQL refusing
    # new clients. DB_POOL_MAX_SIZE=0 turns the pool off (persistent connections, CONN_MAX_AGE).
    DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=8)
    if DB_POOL_MAX_SIZE > 0:
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(env.int("DB_POOL_MIN_SIZE", default=1), DB_POOL_MAX_SIZE),
            "max_size": DB_POOL_MAX_SIZE,
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
        }
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections
    else:
        DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Seconds a client is told to wait (Retry-After) when the database is unavailable or saturated.
DATABASE_RETRY_AFTER_SECONDS = env.int("DATABASE_RETRY_AFTER_SECONDS", default=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Single sign-on (OpenID Connect, docs/operations.md "Single sign-on"): on when OIDC_ISSUER is set.
# The login is mozilla-django-oidc's code flow (config/oidc_login.py); the API accepts the
# provider's access tokens (config/oidc.py). Endpoints come from the issuer's discovery document.
OIDC_ISSUER = env.str("OIDC_ISSUER", default="").rstrip("/")
OIDC_DISCOVERY_URL = env.str(
    "OIDC_DISCOVERY_URL", default=f"{OIDC_ISSUER}/.well-known/openid-configuration" if OIDC_ISSUER else ""
)
OIDC_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="")
OIDC_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default="")
OIDC_SCOPES = env.str("OIDC_SCOPES", default="openid email profile")
# The claim (in the ID token or the userinfo answer) that lists the user's groups at the provider.
OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", default="groups")
# The audience the API's bearer tokens must name (default: the client id).
OIDC_AUDIENCE = env.str("OIDC_AUDIENCE", default="") or OIDC_CLIENT_ID
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="single sign-on")
# Accepted signature algorithms; only asymmetric ones can be listed (none and HS* are always refused).
OIDC_ALGORITHMS = env.list("OIDC_ALGORITHMS", default=["RS256", "ES256"])
OIDC_LEEWAY_SECONDS = env.int("OIDC_LEEWAY_SECONDS", default=30)
# The provider's keys are kept this long in the cache; an unknown key id fetches them again, at most
# once per OIDC_JWKS_REFRESH_SECONDS (a flood of tokens with made-up key ids cannot flood the provider).
OIDC_JWKS_CACHE_SECONDS = env.int("OIDC_JWKS_CACHE_SECONDS", default=3600)
OIDC_JWKS_REFRESH_SECONDS = env.int("OIDC_JWKS_REFRESH_SECONDS", default=60)
OIDC_RENEW_SECONDS = env.int("OIDC_RENEW_SECONDS", default=900)
OIDC_TIMEOUT_SECONDS = env.float("OIDC_TIMEOUT_SECONDS", default=5.0)
# "auto": a client-credentials token of an unknown client creates its service account on first use;
# "registered": only service accounts made beforehand (Django admin, "Provider identities") are let in.
OIDC_SERVICE_ACCOUNTS = env.str("OIDC_SERVICE_ACCOUNTS", default="auto")
# false: password login is off (the login page only offers the provider); needs OIDC_ISSUER.
OIDC_LOCAL_LOGIN = env.bool("OIDC_LOCAL_LOGIN", default=True) or not OIDC_ISSUER
if OIDC_SERVICE_ACCOUNTS not in ("auto", "registered"):
    raise ImproperlyConfigured('OIDC_SERVICE_ACCOUNTS must be "auto" or "registered".')
if OIDC_ISSUER and not OIDC_CLIENT_ID:
    raise ImproperlyConfigured("OIDC_ISSUER is set: set OIDC_CLIENT_ID (and OIDC_CLIENT_SECRET) too.")
if set(OIDC_ALGORITHMS) - {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"}:
    raise ImproperlyConfigured("OIDC_ALGORITHMS may list only RS*, ES* or PS* algorithms.")

AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses a login for a username + address locked out after failures.
    "axes.backends.AxesStandaloneBackend",
    # Acts only on the provider's callback (a code and a state); nothing without OIDC_ISSUER.
    "config.oidc_login.ProviderBackend",
]
if OIDC_LOCAL_LOGIN:
    AUTHENTICATION_BACKENDS.append("django.contrib.auth.backends.ModelBackend")
# Failed logins: after AXES_FAILURE_LIMIT failures for one username from one address, that pair is
# locked out for AXES_COOLOFF_HOURS (a 429 page); a successful login resets the count.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_IPWARE_PROXY_COUNT = env.int("AXES_PROXY_COUNT", default=0)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=str(VAR_DIR / "staticfiles"))
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
STORAGES = {
    # Dataset version files go through Django's storage API: S3 is
    # STORAGE_BACKEND=storages.backends.s3.S3Storage plus django-storages' AWS_* variables.
    "default": {"BACKEND": env.str("STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage")},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Uploads: anything over 2.5 MB goes to a temporary file, never whole into memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_TEMP_DIR = env.str("FILE_UPLOAD_TEMP_DIR", default=None)
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)
# The largest dataset version file accepted, in bytes (uploads and registered paths alike).
GOUVERNAIL_MAX_VERSION_BYTES = env.int("GOUVERNAIL_MAX_VERSION_BYTES", default=5 * 1024**3)
# The most columns one dataset may have (uploads, registered files, OpenLineage schema facets): a
# wider one is refused with a 400 that says so.
GOUVERNAIL_MAX_COLUMNS = env.int("GOUVERNAIL_MAX_COLUMNS", default=5000)
# A gzip file may hold at most GOUVERNAIL_MAX_VERSION_BYTES once decompressed too, and past its first
# 16 MiB of text at most this many times its own size (a few KB of gzip can hold gigabytes of rows).
GOUVERNAIL_MAX_EXPANSION_RATIO = env.int("GOUVERNAIL_MAX_EXPANSION_RATIO", default=100)
# The deepest nesting of objects and arrays in a line of a JSON Lines file.
GOUVERNAIL_MAX_JSON_DEPTH = env.int("GOUVERNAIL_MAX_JSON_DEPTH", default=64)
# Search (API ?q= and the search page): the longest query in characters (a dataset URN fits) and the
# most words in it.
GOUVERNAIL_SEARCH_MAX_CHARS = env.int("GOUVERNAIL_SEARCH_MAX_CHARS", default=600)
GOUVERNAIL_SEARCH_MAX_WORDS = env.int("GOUVERNAIL_SEARCH_MAX_WORDS", default=12)
# Folders that versions may be registered from by path (JSON {"uri": "file:///..."}).
DATA_ROOTS = [Path(p).resolve() for p in env.list("DATA_ROOTS", default=[str(VAR_DIR / "data")])]
# Sources name their credentials: an environment variable, or a file in this folder (docs/sources.md).
SOURCE_SECRETS_DIR = env.str("SOURCE_SECRETS_DIR", default=str(VAR_DIR / "secrets"))

# Redis, when there is one: cache (and the broker when CELERY_BROKER_URL points at it). The cache
# degrades (config/cache.py): while Redis cannot be reached it is an empty cache and every answer
# comes from the database. A call waits at most REDIS_CACHE_TIMEOUT_SECONDS for Redis; after a
# failure the process leaves Redis alone for REDIS_CACHE_RETRY_SECONDS.
REDIS_URL = env.str("REDIS_URL", default="")
REDIS_CACHE_TIMEOUT_SECONDS = env.float("REDIS_CACHE_TIMEOUT_SECONDS", default=1.0)
REDIS_CACHE_RETRY_SECONDS = env.float("REDIS_CACHE_RETRY_SECONDS", default=5.0)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "socket_connect_timeout": REDIS_CACHE_TIMEOUT_SECONDS,
                "socket_timeout": REDIS_CACHE_TIMEOUT_SECONDS,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Celery. The embedded default is kombu's filesystem transport: a real worker process, no server.
# Chosen over sqla+sqlite:// by bench/broker_embedded.py (docs/benchmarks.md, "Platform"): a higher
# throughput (SQLAlchemy's transport cannot lower its 1 s polling, and its publishes wait on
# SQLite's write lock), no lost or duplicated message with two producers at once, and a task
# whose pool process is killed is redelivered, as with Redis. Neither redelivers a task when the
# whole worker is killed -9 (they hand a message out by removing it; Redis keeps it until the
# visibility timeout): one reason production uses Redis.
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu does not create its folders; the worker fails at start-up without them.
    for _sub in ("queue", "processed", "control"):
        (BROKER_DIR / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "control_folder": str(BROKER_DIR / "control"),
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        # An idle worker looks for messages this often (kombu's default, 1 s, caps a worker at
        # about one task per second per process with prefetch 1); a directory listing is cheap.
        "polling_interval": 0.1,
    }
else:
    # acks_late jobs are redelivered after this long if a worker dies holding them.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
    }
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_IGNORE_RESULT = True
# The queue tasks go to when no route names one (a test's worker listens on a queue of its own).
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE: dict = {}
# Beat reads its schedule from the database (django-celery-beat): the sweeps below are written there
# at start, and the cron schedules of source scans and dataset monitors are edited there by stewards
# (catalog.schedules).
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# Profiling jobs (profiling/tasks.py, docs/quality.md). The soft limit fails the job with a clear
# message; the hard limit kills a job stuck where the soft one cannot reach (e.g. inside C code).
PROFILING_SOFT_TIME_LIMIT = env.int("PROFILING_SOFT_TIME_LIMIT", default=3600)
PROFILING_TIME_LIMIT = env.int("PROFILING_TIME_LIMIT", default=PROFILING_SOFT_TIME_LIMIT + 120)
# A running job whose worker has not written a heartbeat for this long is taken over by the next
# delivery of its message; after PROFILING_MAX_ATTEMPTS claims it fails instead of looping.
PROFILING_LEASE_SECONDS = env.int("PROFILING_LEASE_SECONDS", default=120)
PROFILING_MAX_ATTEMPTS = env.int("PROFILING_MAX_ATTEMPTS", default=3)
# A version bigger than this, that the engine cuts into several cells (a CSV or Parquet file on this
# disk), is profiled in parts, one task each, then merged (profiling/part_jobs.py); 0: never split.
PROFILING_PART_BYTES = env.int("PROFILING_PART_BYTES", default=256 * 1024 * 1024)
# A worker imports Great Expectations and the profiling engine before its pool forks and hides
# them from the garbage collector (gc.freeze): jobs neither import GX (seconds) nor pay for
# collections that walk its objects (tenths of a second each). Tests' workers turn it off to start fast.
PROFILING_PRELOAD = env.bool("PROFILING_PRELOAD", default=True)
# Jobs whose message may be lost (the embedded broker loses it when a whole worker dies) are
# queued again by every starting worker and by beat this often; 0 turns both off.
PROFILING_SWEEP_SECONDS = env.int("PROFILING_SWEEP_SECONDS", default=300)
if PROFILING_SWEEP_SECONDS > 0:
    CELERY_BEAT_SCHEDULE["profiling-requeue-stale-runs"] = {
        "task": "profiling.requeue_stale_runs",
        "schedule": PROFILING_SWEEP_SECONDS,
    }
# Dataset monitors (profiling/monitors.py, docs/monitoring.md): beat judges the freshness rules that
# are due this often (0 turns it off); each monitor's own cron schedule is a beat entry of its own.
MONITOR_SWEEP_SECONDS = env.int("MONITOR_SWEEP_SECONDS", default=300)
if MONITOR_SWEEP_SECONDS > 0:
    CELERY_BEAT_SCHEDULE["profiling-monitor-sweep"] = {
        "task": "profiling.monitor_sweep",
        "schedule": MONITOR_SWEEP_SECONDS,
    }
# The outbox (catalog/outbox.py): tasks written in the same transaction as their change, sent after
# the commit. What the broker could not take waits for the sweep: beat runs it this often, and every
# worker as it starts (0 turns both off). A request sends at most OUTBOX_SEND_AFTER_COMMIT waiting
# messages after its commit (a longer backlog is the sweep's); sent messages are kept this many days.
OUTBOX_SWEEP_SECONDS = env.int("OUTBOX_SWEEP_SECONDS", default=10)
OUTBOX_SEND_AFTER_COMMIT = env.int("OUTBOX_SEND_AFTER_COMMIT", default=20)
OUTBOX_KEEP_SENT_DAYS = env.float("OUTBOX_KEEP_SENT_DAYS", default=7)
if OUTBOX_SWEEP_SECONDS > 0:
    CELERY_BEAT_SCHEDULE["catalog-send-outbox"] = {
        "task": "catalog.send_outbox",
        "schedule": OUTBOX_SWEEP_SECONDS,
    }
# Source scans (catalog/scans.py, docs/sources.md): lease and attempts as profiling jobs have them;
# beat queues again scans whose worker died or whose message was lost.
SCAN_LEASE_SECONDS = env.int("SCAN_LEASE_SECONDS", default=120)
SCAN_MAX_ATTEMPTS = env.int("SCAN_MAX_ATTEMPTS", default=3)
CELERY_BEAT_SCHEDULE["catalog-requeue-stale-scans"] = {"task": "catalog.requeue_stale_scans", "schedule": 300}
# MLflow interop (governance/mlflow_sync.py, docs/mlflow.md). MLflow's own client reads the tracking
# server's credentials from the environment (MLFLOW_TRACKING_USERNAME/PASSWORD or TOKEN); without a
# tracking URI the sync is unavailable (the API answers 409). MLFLOW_SYNC_CRON (5 fields, empty: no
# schedule) becomes beat's "mlflow-sync" entry at each `migrate`. SITE_URL is this site's public
# address: the model card's URL written back to MLflow is absolute.
MLFLOW_TRACKING_URI = env.str("MLFLOW_TRACKING_URI", default="")
MLFLOW_SYNC_CRON = env.str("MLFLOW_SYNC_CRON", default="")
MLFLOW_SYNC_LEASE_SECONDS = env.int("MLFLOW_SYNC_LEASE_SECONDS", default=300)
MLFLOW_SYNC_MAX_ATTEMPTS = env.int("MLFLOW_SYNC_MAX_ATTEMPTS", default=3)
SITE_URL = env.str("SITE_URL", default="http://localhost:8000").rstrip("/")
# Governance: approved access requests past their expiry become "expired" (clearance already ignores them).
CELERY_BEAT_SCHEDULE["governance-expire-access-requests"] = {
    "task": "governance.tasks.expire_access_requests",
    "schedule": env.int("GOVERNANCE_EXPIRY_SWEEP_SECONDS", default=300),
}
# Lineage (docs/lineage.md, "Ingestion"): "sync" folds each OpenLineage event into the graph within
# its request (the embedded default); "deferred" stores it pending and answers at once, a worker
# folds pending events in batches and every lineage read folds what is left first (production on
# PostgreSQL with a worker: several times the events per second).
LINEAGE_APPLY = env.str("LINEAGE_APPLY", default="sync")
if LINEAGE_APPLY not in ("sync", "deferred"):
    raise ImproperlyConfigured(f"LINEAGE_APPLY must be sync or deferred (got {LINEAGE_APPLY!r}).")
# The safety net for a lost fold message: beat queues a fold this often (0 turns it off).
LINEAGE_FOLD_SWEEP_SECONDS = env.int("LINEAGE_FOLD_SWEEP_SECONDS", default=60)
# A lineage read folds what is pending for at most this long, then answers (X-Lineage-Pending says
# how many events it did not wait for).
LINEAGE_READ_FOLD_SECONDS = env.float("LINEAGE_READ_FOLD_SECONDS", default=5.0)
# A clearance question waits this long for the events posted before it to reach the graph; if some
# still have not, nothing is cleared (a reason says to ask again): never cleared on a stale graph.
CLEARANCE_LINEAGE_WAIT_SECONDS = env.float("CLEARANCE_LINEAGE_WAIT_SECONDS", default=10.0)
# The queue the fold task goes to: empty, Celery's default queue (every worker folds); a name, a
# queue of its own, so that one worker (`celery -A config worker -Q <name> --concurrency 1`) can
# fold at a lower CPU priority than the web server without slowing profiling (docs/operations.md).
LINEAGE_FOLD_QUEUE = env.str("LINEAGE_FOLD_QUEUE", default="")
if LINEAGE_FOLD_QUEUE:
    CELERY_TASK_ROUTES = {"lineage.fold_pending": {"queue": LINEAGE_FOLD_QUEUE}}
if LINEAGE_FOLD_SWEEP_SECONDS > 0:
    CELERY_BEAT_SCHEDULE["lineage-fold-pending"] = {
        "task": "lineage.fold_pending",
        "schedule": LINEAGE_FOLD_SWEEP_SECONDS,
    }
# Retention (governance/retention.py, docs/operations.md "Retention"). Each age is in days; 0 (the
# default) keeps forever. Lineage events older than LINEAGE_EVENT_RETENTION_DAYS are pruned once
# folded (the graph is unchanged), first appended to gzip JSON Lines files in LINEAGE_EVENT_ARCHIVE_DIR
# when it is set; profiles older than PROFILE_RUN_RETENTION_DAYS that newer ones superseded are
# pruned. (Events and their deliveries: EVENTS_KEEP_DAYS, below.) Beat prunes every
# RETENTION_SWEEP_SECONDS (0: only `manage.py prune_retention`), RETENTION_BATCH rows per transaction
# and at most RETENTION_BEAT_LIMIT of each kind per run.
LINEAGE_EVENT_RETENTION_DAYS = env.float("LINEAGE_EVENT_RETENTION_DAYS", default=0.0)
LINEAGE_EVENT_ARCHIVE_DIR = env.str("LINEAGE_EVENT_ARCHIVE_DIR", default="")
PROFILE_RUN_RETENTION_DAYS = env.float("PROFILE_RUN_RETENTION_DAYS", default=0.0)
RETENTION_BATCH = env.int("RETENTION_BATCH", default=1000)
RETENTION_BEAT_LIMIT = env.int("RETENTION_BEAT_LIMIT", default=100_000)
RETENTION_SWEEP_SECONDS = env.int("RETENTION_SWEEP_SECONDS", default=3600)
if RETENTION_SWEEP_SECONDS > 0:
    CELERY_BEAT_SCHEDULE["governance-prune-retention"] = {
        "task": "governance.prune_retention",
        "schedule": RETENTION_SWEEP_SECONDS,
    }
# Clearance answers are kept in the cache until anything they depend on changes (governance/
# clearance_cache.py): only with a cache every process shares (Redis), so that a change made by a
# worker or another web process invalidates them everywhere. 0 turns the cache off.
CLEARANCE_CACHE_SECONDS = env.int("CLEARANCE_CACHE_SECONDS", default=300 if REDIS_URL else 0)
# The audit chain's anchor outside the database (governance/audit_anchor.py, docs/operations.md):
# where its signed head is appended, under which key, and how often beat writes it (0: never).
AUDIT_ANCHOR_PATH = env.str("AUDIT_ANCHOR_PATH", default=str(VAR_DIR / "audit-anchors.jsonl"))
AUDIT_ANCHOR_KEY = env.str("AUDIT_ANCHOR_KEY", default="")
AUDIT_ANCHOR_SECONDS = env.int("AUDIT_ANCHOR_SECONDS", default=300)
if AUDIT_ANCHOR_SECONDS > 0:
    CELERY_BEAT_SCHEDULE["governance-audit-anchor"] = {
        "task": "governance.tasks.write_audit_anchor",
        "schedule": AUDIT_ANCHOR_SECONDS,
    }
# The operator's webhook (both needed): access_request.* events are POSTed here, signed with
# HMAC-SHA256 of the body; it is the system subscription of the events below (docs/events.md).
GOVERNANCE_WEBHOOK_URL = env.str("GOVERNANCE_WEBHOOK_URL", default="")
GOVERNANCE_WEBHOOK_SECRET = env.str("GOVERNANCE_WEBHOOK_SECRET", default="")
# Events and their deliveries (governance/deliveries.py, docs/events.md). Webhook URLs that resolve
# to loopback, private or link-local addresses are refused unless WEBHOOK_ALLOW_PRIVATE (receivers
# inside the company network, tests). One POST may last WEBHOOK_TIMEOUT_SECONDS in all, and at most
# WEBHOOK_MAX_RESPONSE_BYTES of the answer are read.
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
WEBHOOK_MAX_RESPONSE_BYTES = env.int("WEBHOOK_MAX_RESPONSE_BYTES", default=64 * 1024)
# A failed delivery is tried again after BASE x 2^n seconds (±20 %, at most MAX), up to MAX_ATTEMPTS
# attempts in all. A worker claims BATCH due deliveries at a time for LEASE seconds (another worker
# takes them over after that if it died), sends them from THREADS threads, and works RUN seconds per
# task at most. Beat runs the deliveries every EVENTS_SWEEP_SECONDS (0: never; a worker also queues
# its own next run for the next retry). Events and their delivery logs are kept EVENTS_KEEP_DAYS.
# EVENTS_QUEUE: a queue of its own for deliveries (empty: Celery's default queue).
EVENTS_RETRY_BASE_SECONDS = env.float("EVENTS_RETRY_BASE_SECONDS", default=10.0)
EVENTS_RETRY_MAX_SECONDS = env.float("EVENTS_RETRY_MAX_SECONDS", default=3600.0)
EVENTS_DELIVERY_MAX_ATTEMPTS = env.int("EVENTS_DELIVERY_MAX_ATTEMPTS", default=12)
EVENTS_DELIVERY_BATCH = env.int("EVENTS_DELIVERY_BATCH", default=100)
EVENTS_DELIVERY_LEASE_SECONDS = env.float("EVENTS_DELIVERY_LEASE_SECONDS", default=60.0)
EVENTS_DELIVERY_THREADS = env.int("EVENTS_DELIVERY_THREADS", default=16)
EVENTS_RUN_SECONDS = env.float("EVENTS_RUN_SECONDS", default=30.0)
EVENTS_SWEEP_SECONDS = env.int("EVENTS_SWEEP_SECONDS", default=15)
EVENTS_KEEP_DAYS = env.float("EVENTS_KEEP_DAYS", default=30.0)
EVENTS_QUEUE = env.str("EVENTS_QUEUE", default="")
if EVENTS_SWEEP_SECONDS > 0:
    CELERY_BEAT_SCHEDULE["governance-deliver-events"] = {
        "task": "governance.deliver_events",
        "schedule": EVENTS_SWEEP_SECONDS,
    }
CELERY_BEAT_SCHEDULE["governance-prune-events"] = {"task": "governance.prune_events", "schedule": 3600}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "config.authentication.BearerOrTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "config.rest.Pagination",
    "DEFAULT_PARSER_CLASSES": [
        "config.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.rest.exception_handler",
    "DEFAULT_VERSIONING_CLASS": None,
    # Writes (POST, PUT, PATCH, DELETE) per user or, unauthenticated, per address: API_WRITE_RATE
    # (config/throttles.py). OpenLineage events have their own direct path and limits.
    "DEFAULT_THROTTLE_CLASSES": ["config.throttles.WriteRateThrottle"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Gouvernail API",
    "DESCRIPTION": "Data catalog and governance for machine-learning teams. See docs/api.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from the drf-spectacular-sidecar package, not a CDN (offline installs).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Several models have a "status" with different choices: name each set so that none collides.
    "ENUM_NAME_OVERRIDES": {
        "AccessRequestStatusEnum": "governance.models.RequestStatus",
        "AlertStatusEnum": "profiling.models.AlertStatus",
        "SourceKindEnum": "catalog.models.SourceKind",
        "SubscriptionFormatEnum": "governance.models.SubscriptionFormat",
        "SubscriptionWriteFormatEnum": ["json", "slack"],
    },
    # drf-spectacular's own enum hook first, then the refusals every operation shares.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.openapi.add_shared_error_responses",
    ],
}

# Writes per user through the API, as DRF's rate ("600/min"); empty turns the limit off.
API_WRITE_RATE = env.str("API_WRITE_RATE", default="600/min") or None

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="gouvernail@localhost")

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    # Off unless asked: the TLS proxy in front may already redirect, and HSTS cannot be taken back.
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
