"""Settings for bench/ingest.py, soak.py and flood.py: bench.settings, plus the baseline view.

The example project's URLs with ``/baseline/webhook/`` added (bench/urls.py), and the app
that holds the baseline's bare Celery task (bench/baseline.py) in place of the latency
bench's stamping receiver, so the worker runs no receiver for our events: it measures the
app's own pipeline (claim, process, mark processed) and nothing else.
"""

from bench.settings import *  # noqa: F403
from bench.settings import INSTALLED_APPS

ROOT_URLCONF = "bench.urls"
INSTALLED_APPS = [
    *(app for app in INSTALLED_APPS if app != "bench.stamps.StampsConfig"),
    "bench.baseline.BaselineConfig",
]
