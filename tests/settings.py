"""Test settings: production settings with a throwaway secret and test host names.

DATABASE_URL and REDIS_URL come from the environment as in production, so the same suite
runs on SQLite and on PostgreSQL + Redis.
"""

import os
import uuid

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
# Each test run gets its own cache key space, so runs sharing one Redis never see each
# other's cached rows.
os.environ.setdefault("CACHE_KEY_PREFIX", f"ecs-test-{uuid.uuid4().hex[:8]}")

from ecsportal.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test logins

# Tests do not run collectstatic: serve static files from the apps, without a manifest.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The in-memory inventory index builds in the request that needs it (provisioning.inventory).
ECS_INVENTORY_INDEX_INLINE_BUILD = True
# Test cases run inside transactions that the write-behind thread could not see; the
# servers that tests start (tests/federation.py) write behind, as in production.
ECS_WRITE_BEHIND = False
# Tests change data through other connections (other threads, other processes) and read at
# once; tests/ecsportal/test_memo.py checks the production bound itself.
ECS_FRESHNESS_SECONDS = 0.0
ECS_REQUIRE_AUTH = False  # most API tests call without tokens; tests/access turns it on
# Rate limits are tested on their own (tests/ecsportal/test_limits.py); elsewhere they
# would only make results depend on how many requests earlier tests sent.
ECS_CLIENT_RATE_PER_MINUTE = 0
ECS_ADMIN_LOGIN_PER_MINUTE = 0
ECS_TOKEN_PER_CLIENT_PER_MINUTE = 0
ECS_TOKEN_FAILURES_PER_ADDRESS_PER_MINUTE = 0
# The test client and the live server speak plain HTTP (production mode would redirect).
SECURE_SSL_REDIRECT = False
