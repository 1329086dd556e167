"""Receivers for the worker tests: they report each call to Redis, where the tests read them.

Only the Celery worker the tests start installs this app (``tests.worker_settings``). What a
receiver does is steered by the event's data: ``fail_times`` makes it raise on the first N
attempts; ``sleep`` makes its first run announce itself and then sleep, so a test can kill
the worker in the middle of it.
"""
