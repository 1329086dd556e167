"""Test settings: the example project's, on SQLite unless DATABASE_URL names another database."""

import os

import dj_database_url

from example_project.settings import *  # noqa: F403

DATABASES = {
    "default": dj_database_url.parse(os.environ.get("DATABASE_URL", "sqlite:///:memory:"))
}
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
    # A test database per run, so runs sharing a server (CI, a nox leg) never collide.
    DATABASES["default"]["TEST"] = {"NAME": f"test_kakiyo_{os.getpid()}"}
# Receivers run in the request, right after the commit, so tests see their effects at once
# (the default without a broker is a background thread; tests of that mode set it).
# Each answer's counts are written at once, so a test reads them right after its request
# (the default gathers a second of them; tests of that set it).
KAKIYO = {
    "WEBHOOK_SECRETS": ["whsec_kakiyo_test_5f3c9a1b2d4e6f708192a3b4c5d6e7f8"],
    "PROCESSING": "inline",
    "COUNT_ANSWERS_EVERY": 0,
}
# ...which the checks rightly warn against outside tests.
SILENCED_SYSTEM_CHECKS = ["django_kakiyo.W005"]
CELERY_BROKER_URL = None
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGGING = {"version": 1, "disable_existing_loggers": False}
