"""Django settings for ECS Portal, read from the environment.

Variables (all optional unless said otherwise):
  DEBUG            "1" turns debug mode on; anything else leaves it off.
  SECRET_KEY       required when DEBUG is off.
  DATABASE_URL     sqlite:///path or postgres://user@host:port/name; default
                   $ECS_VAR_DIR/ecsportal.sqlite3.
  ECS_VAR_DIR      the default database and STATIC_ROOT ($ECS_VAR_DIR/static) go here; default
                   var/ of the checkout, or var/ of the current directory for an installed
                   package.
  REDIS_URL        redis://host:port/db; when set, Redis is the Django cache (behind cachalot,
                   locks and rate limits); when unset, a per-process memory cache.
  ALLOWED_HOSTS    comma-separated host names; default localhost,127.0.0.1,[::1].
  ECS_MAX_BODY_BYTES  largest request body the APIs accept (default 1 MiB).
  LOG_LEVEL        default INFO.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from ecsportal import apis

BASE_DIR = Path(__file__).resolve().parent.parent
# Where the default SQLite database and STATIC_ROOT live. A checkout (manage.py beside the
# apps) keeps them in its own var/; an installed package (BASE_DIR is then site-packages) in
# var/ of the directory it is started from. A relative ECS_VAR_DIR is taken from there too.
_CHECKOUT = (BASE_DIR / "manage.py").is_file()
VAR_DIR = Path(
    os.environ.get("ECS_VAR_DIR") or (BASE_DIR / "var" if _CHECKOUT else Path.cwd() / "var")
).absolute()


def env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value == "1"


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name, "")
    items = [item.strip() for item in value.split(",") if item.strip()]
    return items or default


DEBUG = env_flag("DEBUG")

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable to a long random "
            "string (for example: python -c 'import secrets; print(secrets.token_urlsafe(50))'), "
            "or set DEBUG=1 for a development server."
        )
    SECRET_KEY = "django-insecure-development-only-key"
elif not DEBUG and (SECRET_KEY.startswith("django-insecure") or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured(
        "SECRET_KEY looks like a development key (shorter than 32 characters or "
        "'django-insecure...'). Production mode (DEBUG off) needs a long random secret."
    )

if not DEBUG and not os.environ.get("ALLOWED_HOSTS", "").strip():
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS is not set. In production mode (DEBUG off) list the host names this "
        "portal answers to, comma-separated (for example ALLOWED_HOSTS=ecs.example.net)."
    )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

# HTTPS (TS 33.558: the EDGE interfaces run over TLS). In production mode the portal is
# assumed behind TLS -- its own or a proxy's that sets X-Forwarded-Proto -- so these are on
# unless the environment turns them off ("0"); in debug mode (the demo, plain HTTP) off.
SESSION_COOKIE_SECURE = env_flag("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_flag("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_flag("SECURE_SSL_REDIRECT", not DEBUG)
# Probes and scrapers often speak plain HTTP to the node itself, and follow no redirect.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
# includeSubDomains covers the subdomains of the portal's own host name: turn it off ("0")
# when the portal is served at a domain whose other subdomains still need plain HTTP.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_flag("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_flag("SECURE_HSTS_PRELOAD", not DEBUG)
# "HEADER,value" (default HTTP_X_FORWARDED_PROTO,https in production mode; "" for none): the
# header by which the TLS-terminating proxy says a request came over HTTPS. The proxy must
# set (not pass on) that header.
_PROXY_SSL_HEADER = os.environ.get(
    "SECURE_PROXY_SSL_HEADER", "" if DEBUG else "HTTP_X_FORWARDED_PROTO,https"
)
SECURE_PROXY_SSL_HEADER = None
if _PROXY_SSL_HEADER.strip():
    _header, _, _value = (part.strip() for part in _PROXY_SSL_HEADER.partition(","))
    if not _header or not _value:
        raise ImproperlyConfigured(
            "SECURE_PROXY_SSL_HEADER must be HEADER,value (e.g. HTTP_X_FORWARDED_PROTO,https)."
        )
    SECURE_PROXY_SSL_HEADER = (_header, _value)

INSTALLED_APPS = [
    "ecsportal.apps.PortalAdminConfig",  # django.contrib.admin with the portal's site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "cachalot",
    "django_jsonform",  # the schema-driven editors of 3GPP JSON members (ecscore.editors)
    "ecscore",
    "ecsportal",
    "provisioning",
    "partners",
    "federation",
    "notifications",
    "oauth2_provider",
    "access",
    "oam",
]

MIDDLEWARE = [
    "ecscore.middleware.RequestIDMiddleware",
    # Inside the request id (so the 503 carries one), outside all that reads the database.
    "ecscore.middleware.DatabaseUnavailableMiddleware",
    "ecscore.middleware.AdminLoginThrottleMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "ecsportal.urls"
WSGI_APPLICATION = "ecsportal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "ecsportal" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'ecsportal.sqlite3'}"
# Persistent connections (with a health check before reuse) save a connect per request.
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Concurrent readers and one writer without "database is locked" under runserver threads.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )

REDIS_URL = os.environ.get("REDIS_URL", "")
CACHE_KEY_PREFIX = os.environ.get("CACHE_KEY_PREFIX", "ecs")
# Seconds a Redis connect or reply may take before the portal answers without it
# (ecscore.cache): a frozen Redis must cost a request a fraction of a second, not its deadline.
ECS_REDIS_TIMEOUT = float(os.environ.get("ECS_REDIS_TIMEOUT", "0.25"))
if REDIS_URL:

    def _redis_cache(alias: str, fallback: str) -> dict:
        return {
            "BACKEND": "ecscore.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                "SOCKET_CONNECT_TIMEOUT": ECS_REDIS_TIMEOUT,
                "SOCKET_TIMEOUT": ECS_REDIS_TIMEOUT,
                "ALIAS": alias,
                "FALLBACK": fallback,
            },
        }

    # Two views of one Redis: without it, locks and breakers go on per process ("local"),
    # while the query cache misses ("miss") -- a per-process copy of rows would be stale.
    CACHES = {
        "default": _redis_cache("default", "local"),
        "cachalot": _redis_cache("cachalot", "miss"),
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "ecsportal",
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }

# cachalot caches ORM reads in the default cache; sessions and the admin log change on every
# login and would only churn it.
CACHALOT_ENABLED = env_flag("CACHALOT_ENABLED", True)
CACHALOT_CACHE = "cachalot" if REDIS_URL else "default"
CACHALOT_UNCACHABLE_APPS = frozenset({"sessions", "admin"})
# Partner answers and the audit log are written on almost every federated request, change
# events, subscription keys and the outbox on every change: caching their reads would only
# churn the cache (and each write would cost an invalidation).
CACHALOT_UNCACHABLE_TABLES = frozenset(
    {
        "django_migrations",
        "partners_provisioningcacheentry",
        "partners_retrievalaudit",
        "provisioning_inventorychange",
        "provisioning_indexchange",
        "provisioning_eecsubscriptionkey",
        "partners_partnersubscriptionkey",
        "notifications_notification",
        "notifications_deliveryattempt",
        "notifications_workerheartbeat",
    }
)

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
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Without collectstatic (tests, first start) WhiteNoise serves from the app folders.
WHITENOISE_USE_FINDERS = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The EDGE APIs refuse larger bodies with 413 before parsing them.
ECS_MAX_BODY_BYTES = int(os.environ.get("ECS_MAX_BODY_BYTES", str(1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = ECS_MAX_BODY_BYTES
# Deepest nesting and longest array an API body may have (3GPP bodies need far less).
ECS_MAX_JSON_DEPTH = int(os.environ.get("ECS_MAX_JSON_DEPTH", "32"))
ECS_MAX_JSON_ARRAY = int(os.environ.get("ECS_MAX_JSON_ARRAY", "1000"))
# Audit rows, hit counters and cached answers commit without waiting for the WAL flush
# (ecscore.db.relaxed_commit) unless this is set.
ECS_SYNCHRONOUS_AUDIT = env_flag("ECS_SYNCHRONOUS_AUDIT", False)
# Matching from each process's in-memory index (provisioning.inventory); off: the SQL matcher.
ECS_INVENTORY_INDEX = env_flag("ECS_INVENTORY_INDEX", True)
# How stale another process's or node's change may be when a request reads per-process
# copies (the memos' stamps, the inventory index's change feed): each is read at most this
# often; this process's own writes are seen at once.
ECS_FRESHNESS_SECONDS = float(os.environ.get("ECS_FRESHNESS_SECONDS", "0.02"))
# Hit counters and audit rows of the provisioning path are written by a thread of each
# process, in batches, every ECS_WRITE_BEHIND_SECONDS (ecscore.writebehind); off: in the
# request.
ECS_WRITE_BEHIND = env_flag("ECS_WRITE_BEHIND", True)
ECS_WRITE_BEHIND_SECONDS = float(os.environ.get("ECS_WRITE_BEHIND_SECONDS", "0.05"))
# Fresh partner answers each process keeps in memory (partners.cache.Memory); 0: none.
ECS_PARTNER_CACHE_MEMORY = int(os.environ.get("ECS_PARTNER_CACHE_MEMORY", "10000"))
# Request bodies judged valid by jsonschema-rs (ecscore.fastschemas); off: by the pure-Python
# OAS30Validator alone, which explains every refusal either way (ecscore.schemas).
ECS_COMPILED_SCHEMAS = env_flag("ECS_COMPILED_SCHEMAS", True)
# Requests per sliding minute per API client (OAuth client, else address); 0 = no limit.
ECS_CLIENT_RATE_PER_MINUTE = int(os.environ.get("ECS_CLIENT_RATE_PER_MINUTE", "6000"))
# Admin login attempts per address per minute.
ECS_ADMIN_LOGIN_PER_MINUTE = int(os.environ.get("ECS_ADMIN_LOGIN_PER_MINUTE", "10"))

# EES registrations and EEC subscriptions: the longest expiry we grant (seconds).
ECS_REGISTRATION_MAX_SECONDS = int(os.environ.get("ECS_REGISTRATION_MAX_SECONDS", "86400"))
ECS_SUBSCRIPTION_MAX_SECONDS = int(os.environ.get("ECS_SUBSCRIPTION_MAX_SECONDS", "86400"))
# Quotas (live rows; 0 = no limit): EDGE-4 subscriptions per EEC, EDGE-10 subscriptions per
# partner, EDGE-6 registrations per API client (or address, without a token). Over: 403.
ECS_MAX_SUBSCRIPTIONS_PER_EEC = int(os.environ.get("ECS_MAX_SUBSCRIPTIONS_PER_EEC", "10"))
ECS_MAX_SUBSCRIPTIONS_PER_PARTNER = int(
    os.environ.get("ECS_MAX_SUBSCRIPTIONS_PER_PARTNER", "10000")
)
ECS_MAX_REGISTRATIONS_PER_CLIENT = int(os.environ.get("ECS_MAX_REGISTRATIONS_PER_CLIENT", "100"))
# Notifications: per-attempt timeout, longest backoff, and when to give up (seconds).
ECS_NOTIFICATION_TIMEOUT = float(os.environ.get("ECS_NOTIFICATION_TIMEOUT", "5"))
ECS_NOTIFICATION_MAX_BACKOFF = float(os.environ.get("ECS_NOTIFICATION_MAX_BACKOFF", "60"))
# Deliveries in flight at once, and to one destination host (a slow receiver holds no more).
ECS_NOTIFICATION_CONCURRENCY = int(os.environ.get("ECS_NOTIFICATION_CONCURRENCY", "32"))
ECS_NOTIFICATION_PER_HOST = int(os.environ.get("ECS_NOTIFICATION_PER_HOST", "8"))
# A worker's claim on a notification it is delivering; after a crash the claim lapses and
# another worker (or the restarted one) delivers it again.
ECS_NOTIFICATION_LEASE_SECONDS = float(os.environ.get("ECS_NOTIFICATION_LEASE_SECONDS", "60"))
# A worker's claim on the change events it is evaluating (provisioning.changes); after a crash
# the claim lapses and another worker (or the restarted one) evaluates them again.
ECS_CHANGE_LEASE_SECONDS = float(os.environ.get("ECS_CHANGE_LEASE_SECONDS", "300"))
# /healthz reports "failing" when no worker beat for this long -- only when a worker is
# expected (scripts/serve.sh says so; the quick start and the tests run none).
ECS_EXPECT_WORKER = env_flag("ECS_EXPECT_WORKER", False)
ECS_WORKER_HEARTBEAT_MAX_AGE = float(os.environ.get("ECS_WORKER_HEARTBEAT_MAX_AGE", "60"))
ECS_NOTIFICATION_GIVE_UP_SECONDS = float(os.environ.get("ECS_NOTIFICATION_GIVE_UP_SECONDS", "3600"))
# /metrics: a Bearer token scrapers present, and/or networks (CIDRs) that may read without one.
# With neither, only a debug-mode server answers.
ECS_METRICS_TOKEN = os.environ.get("ECS_METRICS_TOKEN", "")
ECS_METRICS_ALLOW = env_list("ECS_METRICS_ALLOW", [])
for _network in ECS_METRICS_ALLOW:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"ECS_METRICS_ALLOW: {_network!r} is no CIDR network.") from _exc
# How partners and the NEF reach this ECS (callbacks of our partner and NEF subscriptions).
ECS_PUBLIC_URL = os.environ.get("ECS_PUBLIC_URL", "").rstrip("/")
# An operator's own roaming resolver (provisioning.roaming): a dotted path; empty = ours.
ECS_ROAMING_RESOLVER = os.environ.get("ECS_ROAMING_RESOLVER", "")
# The admin's map of service areas: a tile server URL template ({z}/{x}/{y}, as Leaflet takes
# it) and its attribution. Unset: shapes on a plain grid, and the page asks nothing of anyone.
ECS_MAP_TILE_URL = os.environ.get("ECS_MAP_TILE_URL", "")
ECS_MAP_TILE_ATTRIBUTION = os.environ.get("ECS_MAP_TILE_ATTRIBUTION", "")

# OAuth 2.0 client credentials (TS 29.558 clause 7; TS 33.558): one scope per API.
# Anonymous EDGE-4/EDGE-6 calls are refused unless ECS_REQUIRE_AUTH=0; on by default in
# production mode, off in debug mode. EDGE-10 always needs a partner credential.
ECS_REQUIRE_AUTH = env_flag("ECS_REQUIRE_AUTH", not DEBUG)
OAUTH2_PROVIDER = {
    "SCOPES": apis.scopes(),
    "SCOPES_BACKEND_CLASS": "access.scopes.ClientScopes",
    "ACCESS_TOKEN_EXPIRE_SECONDS": int(os.environ.get("ECS_ACCESS_TOKEN_SECONDS", "3600")),
    # The client credentials grant only (access.oauth); unknown clients cost a secret hash.
    "OAUTH2_SERVER_CLASS": "access.oauth.ClientCredentialsServer",
    "OAUTH2_VALIDATOR_CLASS": "access.oauth.ClientCredentialsValidator",
    # Tokens at rest: only their SHA-256 (token_checksum), never the token itself.
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    # RFC 9700 for the grants and flows we do not offer, so that nothing falls back to them
    # (and `check --deploy` has no oauth2_provider warnings).
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
}
# /oauth2/token/: requests per minute per client id, and failed client authentications per
# minute per address (failures only: many EECs share one address behind carrier NAT); 0 = none.
ECS_TOKEN_PER_CLIENT_PER_MINUTE = int(os.environ.get("ECS_TOKEN_PER_CLIENT_PER_MINUTE", "60"))
ECS_TOKEN_FAILURES_PER_ADDRESS_PER_MINUTE = int(
    os.environ.get("ECS_TOKEN_FAILURES_PER_ADDRESS_PER_MINUTE", "30")
)

OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "ecscore.problems.problem_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.DjangoModelPermissions"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append(
        "rest_framework.renderers.BrowsableAPIRenderer"
    )

# The 3GPP APIs (ecscore.views.ThreeGPPAPIView): OAuth 2.0 access tokens with one scope per API.
ECS_API_AUTHENTICATION_CLASSES = ["access.authentication.OAuth2ClientAuthentication"]
ECS_API_PERMISSION_CLASSES = ["access.authentication.ScopedAccess"]

SPECTACULAR_SETTINGS = {
    "TITLE": "ECS Portal API",
    "DESCRIPTION": (
        "Edge Configuration Server (3GPP TS 23.558). EDGE-4 follows 3GPP TS 24.558 "
        "(TS24558_Eecs_ServiceProvisioning.yaml); EDGE-6 and EDGE-10 follow TS 29.558. "
        "Each API is served at `/{name}/{version}/` and needs the OAuth 2.0 scope `{name}`; "
        "its bodies are the schemas of its file (3GPP's, or ours where 3GPP's could not be "
        "had, which reuses 3GPP's types):\n\n"
        + "".join(
            f"- `{api.name}` {api.version}: {api.scope_description}, {api.schema_file}\n"
            for api in apis.SERVED
        )
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # The operations name 3GPP's schemas (ecscore's bundle) or ours; ecscore.apidoc copies
    # them into the document, declares the security schemes (the scopes are
    # OAUTH2_PROVIDER["SCOPES"]) and documents the token, health and metrics endpoints,
    # which are not DRF views. After the enum hook, which rebuilds the components.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "ecscore.apidoc.postprocess",
    ],
    # Swagger UI assets come from the installed sidecar package, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "ecscore.middleware.RequestIDLogFilter"}},
    "formatters": {
        "plain": {
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # oauthlib logs each access token it issues at DEBUG: never below INFO, whatever
        # LOG_LEVEL says.
        "oauthlib": {"level": "INFO"},
    },
}
