"""django-kakiyo: verified, durable, replayable Kakiyo webhooks for Django."""

__version__ = "0.1.0.dev0"
