"""The multi-host run (issue 18, "Beyond one machine"): ``bin/run-multihost``.

PostgreSQL, a broker, two web hosts, two worker hosts and a Kakiyo sender, each in its own
network namespace; faults during the load; one summary line computed from the sender's
records, the receivers' records and the database. Modules:

- ``run``: the entry point and the timeline (setup, load, faults, drain, verdict, teardown);
- ``topology``: namespaces, the router, cuts and netem;
- ``services``: starting and stopping PostgreSQL, Redis or RabbitMQ, gunicorn, Celery;
- ``sender``: Kakiyo (signs, 10 s timeout, retries after 1, 2, 4 s, counts disabling);
- ``check``: the summary line, from the records and the database only;
- ``apps``, ``models``: the receivers that record every processing (Django app);
- ``settings``: the Django settings of every host.
"""

#: The webhook secret: in every host's KAKIYO['WEBHOOK_SECRETS'], and the sender signs with it.
SECRET = "multihost-secret-0123456789abcdef"
