"""What the benchmarks share: servers, deliveries, load, accounting and reporting.

- ``environment``: the repository, Django set up for a bench settings module, the results files;
- ``database``: the bench's PostgreSQL database: created if missing, emptied, what it holds;
- ``servers``: gunicorn, a Celery worker, any other server, started and stopped by their pid;
- ``deliveries``: distinct signed deliveries, and one HTTP connection that posts them;
- ``load``: the open-loop paced sender (requests due at a fixed rate, latency from when due);
- ``procfs``: CPU and memory of the bench's processes, from /proc;
- ``waiting``: for a condition, and for a quiet machine;
- ``monitor``: a running Stack sampled every minute (bench/soak.py);
- ``report``: percentiles, medians, ratios;
- ``wrk``, ``pyspy``, ``rounds``, ``ab_report``: the A/B rounds of bench/ingest.py.
"""
