"""A small Django + Celery project that uses django-kakiyo the way a user would."""
