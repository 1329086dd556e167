"""The test matrix: every Python and Django version setup.cfg declares, on SQLite then PostgreSQL.

    .venv/bin/nox -s tests                                 # every valid Python x Django pair
    .venv/bin/nox -r -s tests -t django-6.0                # one Django on each Python it runs on
    .venv/bin/nox -s "tests(python='3.12', django='6.0')"  # one leg
    .venv/bin/nox -s tests -- -k views -x                  # arguments after -- go to pytest

The versions come from setup.cfg's classifiers, so the matrix is exactly what the package
declares, less the pairs Django itself refuses (``DJANGO_MIN_PYTHON``: Django 6.x needs Python
3.12 or later). A Python that is not installed is skipped, except when CI is set in the
environment: then nox fails on it (its default). With pyenv, expose its versions to the shims
first: ``PYENV_VERSION=3.11.7:3.12.1:3.13.0`` (``.ci/run`` does that).
"""

from __future__ import annotations

import configparser
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import nox

HERE = Path(__file__).parent
POSTGRES_URL = os.environ.get(
    "KAKIYO_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)

# The matrix venvs live under .venv/ (already git-ignored, like the dev venv), so nothing
# untracked appears in the shared working tree.
nox.options.envdir = str(HERE / ".venv" / "nox")
nox.options.sessions = ["tests"]


def declared_versions(prefix: str) -> list[str]:
    """The X.Y versions of setup.cfg's ``<prefix> :: X.Y`` classifiers, in file order."""
    config = configparser.ConfigParser()
    config.read(HERE / "setup.cfg", encoding="utf-8")
    classifiers = config["metadata"]["classifiers"].strip().splitlines()
    versions = []
    for classifier in classifiers:
        head, _, version = classifier.strip().rpartition(" :: ")
        if head == prefix and version.replace(".", "").isdigit() and "." in version:
            versions.append(version)
    return versions


def as_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


PYTHONS = declared_versions("Programming Language :: Python")
DJANGOS = declared_versions("Framework :: Django")

# The oldest Python each Django release installs on (its Requires-Python), for the releases
# whose floor is above the oldest declared Python. pip would refuse the other pairs, so they
# are not sessions at all. A new Django release with a higher floor goes here.
DJANGO_MIN_PYTHON = {"6.0": "3.12", "6.1": "3.12"}


def runs_on(python: str, django: str) -> bool:
    return as_tuple(python) >= as_tuple(DJANGO_MIN_PYTHON.get(django, PYTHONS[0]))


# Each valid pair, Django-major (all of a Django's legs together), tagged with its Django
# version (-t django-6.0): nox has no session name that selects one Django on every Python.
MATRIX = [
    nox.param(python, django, tags=[f"django-{django}"])
    for django in DJANGOS
    for python in PYTHONS
    if runs_on(python, django)
]


def postgres_reachable(url: str) -> bool:
    """A TCP connect is enough to tell "no server here" from a server that errors later."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 3):
            return True
    except OSError:
        return False


@nox.session
@nox.parametrize(("python", "django"), MATRIX)
def tests(session: nox.Session, django: str) -> None:
    # Not editable: the venv holds a built copy, as users get it. pytest still imports the
    # package from the checkout (pytest-django puts manage.py's directory first on sys.path),
    # which is the code under test.
    session.install(".[test]", f"django~={django}.0")
    session.run("python", "-c", "import django; print('Django', django.get_version())")

    session.log("tests on SQLite")
    session.run("python", "-m", "pytest", *session.posargs, env={"DATABASE_URL": None})

    if not postgres_reachable(POSTGRES_URL):
        if os.environ.get("CI", "").lower() == "true":
            session.error(f"CI=true and PostgreSQL is not reachable at {POSTGRES_URL}")
        session.warn(f"SKIPPED the PostgreSQL pass: no server at {POSTGRES_URL}")
        return
    session.log(f"tests on PostgreSQL ({POSTGRES_URL})")
    session.run("python", "-m", "pytest", *session.posargs, env={"DATABASE_URL": POSTGRES_URL})
