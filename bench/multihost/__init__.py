"""The multi-host run (issue 18, "Beyond one machine"): ``bin/run-multihost``.

PostgreSQL, a broker, two web hosts, two worker hosts and a Kakiyo sender, each in its own
network namespace; faults during the load; one summary line computed from the sender's
records, the receivers' records and the database. Figures: ``RESULTS.md``. Modules:

- ``run``: the entry point and its phases (setup, load, drain, verdict, teardown);
- ``topology``: namespaces, the router, cuts and netem;
- ``backends``: the db host (PostgreSQL) and the broker host (Redis or RabbitMQ);
- ``services``: programs on hosts: gunicorn, Celery worker and beat, one-off commands;
- ``faults``: the run's sizes (quick, full) and its timeline of faults;
- ``inflight``: applies a fault the moment a worker is inside a transaction;
- ``sender``: Kakiyo (signs, 10 s timeout, retries after 1, 2, 4 s, counts disabling);
- ``check``: the summary line, from the records and the database only;
- ``cpu``: the run's CPU against everything else on the machine;
- ``apps``, ``models``: the receivers that record every processing (Django app);
- ``settings``: the Django settings of every host.
"""

#: The webhook secret: in every host's KAKIYO['WEBHOOK_SECRETS'], and the sender signs with it.
SECRET = "multihost-secret-0123456789abcdef"
