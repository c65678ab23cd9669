"""Settings for the test suite: the same as production's but for speed and isolation."""

import os
import tempfile

# Unit tests run tasks inline; the integration tests (marked `integration`) start a real worker.
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")

from config.settings import *  # noqa: E402,F403
from config.settings import DATABASES  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = tempfile.mkdtemp(prefix="gouvernail-test-media-")
# An existing folder: WhiteNoise warns on every request when STATIC_ROOT is missing (a fresh clone).
STATIC_ROOT = tempfile.mkdtemp(prefix="gouvernail-test-static-")
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Cached clearance answers are invalidated after a change's transaction commits, and most tests run
# inside one transaction: the tests of the cache turn it on themselves (governance/tests/
# test_clearance_cache.py, and across processes with Redis in tests/integration/).
CLEARANCE_CACHE_SECONDS = 0
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that a worker process started by a test can open the same database.
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"gouvernail-test-{os.getpid()}.sqlite3")
    }
# No write limit in the suite (many tests write quickly as one user); config/tests of throttling set it.
API_WRITE_RATE = None
AUDIT_ANCHOR_PATH = os.path.join(tempfile.mkdtemp(prefix="gouvernail-test-anchor-"), "audit-anchors.jsonl")
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The flush between transactional tests truncates the audit tables (migration 0004's guard).
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c gouvernail.allow_audit_truncate=on"
