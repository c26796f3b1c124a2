"""qrelay settings, read from the environment (see README "Configuration").

With no environment at all qrelay runs embedded: a SQLite file under QRELAY_DATA_DIR,
Celery tasks executed in-process and the offline judge. Setting DATABASE_URL and
CELERY_BROKER_URL switches to the full stack (PostgreSQL + Redis + `celery worker`).
"""

import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_choice, env_int, env_int_or_none, env_json_strings, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("QRELAY_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("QRELAY_DEBUG", False)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    # Embedded mode: keep one random key per data directory so sessions survive restarts.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "template_partials",
    "django_htmx",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "annotation",
    "judging",
    "reviews",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.security.ContentSecurityPolicyMiddleware",
    # Static files straight from the web process, compressed and cached (no proxy needed).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.security.RequestLogMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # An htmx request whose session ended hears so in a fragment, not a login page.
    "config.session_problems.SessionProblemMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its answer.
    "axes.middleware.AxesMiddleware",
]

# Login throttling (django-axes): after QRELAY_LOGIN_FAILURES wrong passwords for one
# account, or from one address, logins from there are refused for the cool-off time,
# even with the right password. Successful logins reset the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("QRELAY_LOGIN_FAILURES", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("QRELAY_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one locks
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

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
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]


def _database() -> dj_database_url.DBConfig | dict[str, Any]:
    url = env_str("DATABASE_URL")
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "qrelay.sqlite3",
            "OPTIONS": {"timeout": 30},
        }
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
    if config["ENGINE"] not in ("django.db.backends.postgresql", "django.db.backends.sqlite3"):
        raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (or SQLite for trying things)")
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("QRELAY_STATIC_ROOT", str(DATA_DIR / "staticfiles"))).resolve()
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Until `collectstatic` has run (make serve), WhiteNoise serves the source folders.
WHITENOISE_USE_FINDERS = not env_bool("QRELAY_COLLECTED_STATIC", False)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, compressed files after `collectstatic` (make serve); plain files in development.
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("QRELAY_COLLECTED_STATIC", False)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Product images are stored here under server-chosen names and served only through
# an access-checked view (annotation.views.product_image), never as raw media.
MEDIA_ROOT = Path(env_str("QRELAY_MEDIA_ROOT", str(DATA_DIR / "media"))).resolve()

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
# A stale CSRF token (a login in another tab rotated it) gets a page or fragment that says so.
CSRF_FAILURE_VIEW = "config.session_problems.csrf_failure"
LOGOUT_REDIRECT_URL = "login"

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Behind TLS (directly or at a proxy that sets X-Forwarded-Proto): one switch turns on
# everything `manage.py check --deploy` asks for.
QRELAY_HTTPS = env_bool("QRELAY_HTTPS", False)
if QRELAY_HTTPS:
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("QRELAY_HSTS_SECONDS", 31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("QRELAY_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("QRELAY_HSTS_PRELOAD", True)
    # /healthz answers load balancers over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# Content-Security-Policy on every response (config/security.py): scripts only from this
# origin, never inline; styles may be inline (style attributes for bars and charts).
QRELAY_CSP = env_str(
    "QRELAY_CSP",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'",
)

# Uploads and image imports.
QRELAY_IMAGE_MAX_PIXELS = env_int("QRELAY_IMAGE_MAX_PIXELS", 40_000_000, minimum=1)
QRELAY_IMAGE_MAX_BYTES = env_int("QRELAY_IMAGE_MAX_BYTES", 20 * 1024 * 1024, minimum=1)
QRELAY_IMAGE_MAX_SIDE = env_int("QRELAY_IMAGE_MAX_SIDE", 1024, minimum=64)
QRELAY_IMPORT_BATCH_SIZE = env_int("QRELAY_IMPORT_BATCH_SIZE", 2000, minimum=1)
# Uploads larger than this are imported by the worker (an ImportJob with progress); smaller
# ones are imported during the request, as before.
QRELAY_IMPORT_ASYNC_BYTES = env_int("QRELAY_IMPORT_ASYNC_BYTES", 20 * 1024 * 1024, minimum=0)
# A running import with no progress for this long lost its worker (killed, restarted): it
# is marked failed with that reason when its page or API is read, and by the beat.
QRELAY_IMPORT_STALL_MINUTES = env_int("QRELAY_IMPORT_STALL_MINUTES", 30, minimum=1)

# The LLM layer: defaults that a project's JudgeConfig may override.
QRELAY_LLM_BACKEND = env_choice("QRELAY_LLM_BACKEND", "offline", {"offline", "openai"})
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL")  # empty: the SDK's default (api.openai.com)
# What a project's judging configuration may name (judging/endpoint_rules.py): key variables
# (besides any QRELAY_LLM_KEY_<NAME>) and base URLs (besides OPENAI_BASE_URL).
QRELAY_LLM_KEY_ENVS = env_list("QRELAY_LLM_KEY_ENVS", ["OPENAI_API_KEY"])
QRELAY_LLM_BASE_URLS = env_list("QRELAY_LLM_BASE_URLS", [])
QRELAY_GUIDELINE_MODEL = env_str("QRELAY_GUIDELINE_MODEL", "gpt-4o")
QRELAY_VISION_MODEL = env_str("QRELAY_VISION_MODEL", "gpt-4o-mini")
QRELAY_JUDGE_MODEL = env_str("QRELAY_JUDGE_MODEL", "gpt-4o-mini")
# How hard a job drives its endpoint. A preset fits the kind of server: `hosted` (an API
# that takes many calls at once), `local-cpu` (a llama.cpp-style server on CPU: one call per
# slot, slow answers, shorter answers) or `local-gpu`. The four variables after it override
# the preset's values; unset (None) means the preset's. A project may set its own preset
# or values (JudgeConfig); a job records what it used when it starts.
QRELAY_LLM_PRESETS = {
    "hosted": {"max_in_flight": 32, "timeout": 60, "max_tokens": 1024, "stop": []},
    # One call per server slot: more wait in the server's queue until they time out.
    "local-cpu": {
        "max_in_flight": env_int("QRELAY_LLM_SLOTS", 4, minimum=1),
        "timeout": 300,
        "max_tokens": 512,
        "stop": [],
    },
    "local-gpu": {"max_in_flight": 16, "timeout": 120, "max_tokens": 1024, "stop": []},
}
QRELAY_LLM_PRESET = env_choice("QRELAY_LLM_PRESET", "hosted", set(QRELAY_LLM_PRESETS))
QRELAY_LLM_MAX_IN_FLIGHT = env_int_or_none("QRELAY_LLM_MAX_IN_FLIGHT", minimum=1)
QRELAY_LLM_TIMEOUT = env_int_or_none("QRELAY_LLM_TIMEOUT", minimum=1)  # seconds per call
QRELAY_LLM_MAX_TOKENS = env_int_or_none("QRELAY_LLM_MAX_TOKENS", minimum=16)  # per answer
QRELAY_LLM_STOP = env_json_strings("QRELAY_LLM_STOP")  # a JSON list of stop sequences
# Pairs per judging task; a task keeps up to max_in_flight calls going. Unset: 20 times
# the job's max_in_flight (judging/jobs/launch.py, judge_chunk_size).
QRELAY_JUDGE_CHUNK_SIZE = env_int_or_none("QRELAY_JUDGE_CHUNK_SIZE", minimum=1)
# Celery-level retries of a chunk whose calls keep failing transiently (429/5xx/timeouts).
QRELAY_JUDGE_CHUNK_RETRIES = env_int("QRELAY_JUDGE_CHUNK_RETRIES", 5, minimum=0)
# Shared rate-limit buckets live here; defaults to the broker when that is Redis.
QRELAY_REDIS_URL = env_str("QRELAY_REDIS_URL")

REST_FRAMEWORK = {
    # Token first: an anonymous caller then gets 401 with "WWW-Authenticate: Token".
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "annotation.api.pagination.ApiPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # ?format= is a real parameter of the exports (csv, jsonl, qrels), not a renderer switch.
    "URL_FORMAT_OVERRIDE": None,
    # Per client and minute; the counts live in the cache (Redis in the full stack).
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("QRELAY_API_ANON_RATE", "60/minute"),
        "user": env_str("QRELAY_API_USER_RATE", "1200/minute"),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "qrelay API",
    "DESCRIPTION": "Relevance labels for e-commerce search: projects, runs, pairs, labels, judging jobs, "
    "review figures, agreement, metrics and exports. Authenticate with `Authorization: Token <key>` "
    "(see docs/api.md).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the drf-spectacular-sidecar package: served by us, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a `status` with its own choices: name each set, so the schema
    # has stable enum names instead of hashed ones (and `check --deploy` stays clean).
    "ENUM_NAME_OVERRIDES": {
        "ImageStatusEnum": "annotation.models.ProductImage.Status",
        "ImportJobStatusEnum": "annotation.models.ImportJob.Status",
        "JudgeJobStatusEnum": "judging.models.JudgeJob.Status",
    },
}

# Celery. Without a broker the tasks run in-process (embedded mode); with one, a
# `celery worker` runs them. The database, not the broker, records what is done, so
# tasks are acknowledged late and their writes are idempotent.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if CELERY_TASK_ALWAYS_EAGER:
    CELERY_BROKER_URL = "memory://"  # never contacted; keeps kombu from guessing a host
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 1800, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 5
# Longer than any task may run, so the broker never re-delivers work that is in flight.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT * 2}
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "qrelay")
# /healthz waits this long (seconds) for the broker and for a worker's reply to a ping.
QRELAY_HEALTH_TIMEOUT = env_int("QRELAY_HEALTH_TIMEOUT", 2, minimum=1)
# A running judge job with no sign of life for this long has lost its queued work (Redis
# keeps nothing on disk here, so a broker restart drops the messages); the watchdog task
# enqueues it again. Longer than a chunk's longest backoff (300 s) between attempts.
QRELAY_JUDGE_STALL_SECONDS = env_int("QRELAY_JUDGE_STALL_SECONDS", 900, minimum=60)
if not QRELAY_REDIS_URL and CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    QRELAY_REDIS_URL = CELERY_BROKER_URL

# The cache holds the dashboard's agreement snapshots, computed by a worker and read by
# every web process: it must be shared, so Redis in the full stack. Embedded mode has
# one process and no Redis: memory.
if QRELAY_REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": QRELAY_REDIS_URL,
            "KEY_PREFIX": env_str("QRELAY_CACHE_PREFIX", "qrelay"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "qrelay"}}

LOGGING: dict[str, Any] = {  # a logging.dictConfig() dict: nested and heterogeneous
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # The LLM client's HTTP library would log one line per request (21,000 for 20k pairs).
    "loggers": {
        "httpx2": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        # One line per request (config/security.py); the server's own access log is off.
        "qrelay.requests": {"level": env_str("QRELAY_REQUEST_LOG_LEVEL", "INFO")},
    },
}
if CELERY_TASK_ALWAYS_EAGER:
    # The in-memory broker has no host and kombu says so on every enqueue; and every
    # in-process task would log a line (workers keep those, retries included).
    LOGGING["loggers"]["kombu.connection"] = {"level": "ERROR"}
    LOGGING["loggers"]["celery.app.trace"] = {"level": "WARNING"}


def _connector_allowed_hosts() -> list[str]:
    """QRELAY_CONNECTOR_ALLOWED_HOSTS, each entry normalised (annotation/connectors/endpoints.py)."""
    from annotation.connectors.endpoints import EndpointError, parse_allowed_entry

    hosts = []
    for entry in env_list("QRELAY_CONNECTOR_ALLOWED_HOSTS", []):
        try:
            hosts.append(parse_allowed_entry(entry).text)
        except EndpointError as exc:
            raise ImproperlyConfigured(f"QRELAY_CONNECTOR_ALLOWED_HOSTS: {exc}") from None
    return hosts


def _connector_secrets() -> dict[str, dict[str, Any]]:
    """QRELAY_CONNECTOR_SECRETS: which projects may send which secret, to which origin."""
    from annotation.connectors.endpoints import EndpointError, parse_secret_bindings

    try:
        return parse_secret_bindings(env_str("QRELAY_CONNECTOR_SECRETS", ""))
    except EndpointError as exc:
        raise ImproperlyConfigured(f"QRELAY_CONNECTOR_SECRETS: {exc}") from None


# "Retrieve" connectors (annotation/connectors, docs/connectors.md). Search engines are
# often internal: a host that resolves to a private, loopback or link-local address is
# refused unless listed here (host names, IP addresses or networks, comma-separated). An
# entry without a port allows ports 80 and 443 only; `host:port` allows that one port.
QRELAY_CONNECTOR_ALLOWED_HOSTS = _connector_allowed_hosts()
# Connector secrets: a connector sends the variable QRELAY_CONNECTOR_SECRET_X only when
# the operator bound X here to the connector's project and to the one origin it goes to:
# JSON {"QRELAY_CONNECTOR_SECRET_X": {"origin": "https://es.internal:9200", "projects": ["shop-a"]}}.
QRELAY_CONNECTOR_SECRETS = _connector_secrets()
# Product images listed as URLs (`manage.py fetch_images`): per-request timeout. The
# size cap is QRELAY_IMAGE_MAX_BYTES; private addresses need QRELAY_CONNECTOR_ALLOWED_HOSTS.
QRELAY_IMAGE_FETCH_TIMEOUT = env_int("QRELAY_IMAGE_FETCH_TIMEOUT", 15, minimum=1)
QRELAY_CONNECTOR_MAX_BYTES = env_int("QRELAY_CONNECTOR_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
QRELAY_CONNECTOR_MAX_REDIRECTS = env_int("QRELAY_CONNECTOR_MAX_REDIRECTS", 3, minimum=0)
# "Repeat": how often celery beat looks for due schedules and finished cycles.
QRELAY_REPEAT_BEAT_SECONDS = env_int("QRELAY_REPEAT_BEAT_SECONDS", 60, minimum=5)
# A cycle whose judging job has not ended after this long is closed as failed, so a
# lost job never blocks its schedule for good.
QRELAY_REPEAT_STALE_HOURS = env_int("QRELAY_REPEAT_STALE_HOURS", 24, minimum=1)

# `celery -A config beat` sends these (docs/connectors.md, docs/operations in README);
# the embedded mode runs no beat. A beat sent while no worker was up expires rather than
# being replayed in a burst.
CELERY_BEAT_SCHEDULE = {
    "repeat-due": {
        "task": "reviews.repeat_due",
        "schedule": float(QRELAY_REPEAT_BEAT_SECONDS),
        "options": {"expires": float(QRELAY_REPEAT_BEAT_SECONDS)},
    },
    "judge-watchdog": {
        "task": "judging.resume_stalled_jobs",
        "schedule": 300.0,
        "options": {"expires": 300.0},
    },
    "import-watchdog": {
        "task": "annotation.fail_stalled_imports",
        "schedule": 300.0,
        "options": {"expires": 300.0},
    },
}
