from django.db import migrations, models


def forget_unreadable_timestamps(apps, schema_editor):
    """Empty ``occurred_at`` where it holds a moment no driver can read back (before year 1
    or after 9999 in UTC). Earlier releases stored ``0001-01-01T00:00:00+14:00`` as year 0 on
    PostgreSQL, and every page or worker that read such a row failed. The raw body keeps the
    value that was sent."""
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite stores text, which reads back whatever it holds
    table = schema_editor.quote_name("django_kakiyo_webhookevent")
    schema_editor.execute(
        f"UPDATE {table} SET occurred_at = NULL "  # noqa: S608 - a quoted table name
        "WHERE occurred_at < '0001-01-01T00:00:00Z' OR occurred_at >= '10000-01-01T00:00:00Z'"
    )


class Migration(migrations.Migration):
    """The replay permission (replaying and ignoring need more than the view permission), the
    ``length_required`` refusal, and no stored timestamp that cannot be read back."""

    dependencies = [
        ("django_kakiyo", "0004_lighter_indexes"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="webhookevent",
            options={
                "get_latest_by": "received_at",
                "ordering": ["-received_at", "-id"],
                "permissions": [("replay_webhookevent", "Can replay and ignore webhook events")],
                "verbose_name": "webhook event",
                "verbose_name_plural": "webhook events",
            },
        ),
        migrations.AlterField(
            model_name="rejectedrequest",
            name="reason",
            field=models.CharField(
                choices=[
                    ("verification_failed", "signature verification failed"),
                    ("payload_too_large", "payload too large"),
                    ("unsupported_media_type", "unsupported media type"),
                    ("team_mismatch", "signed with another team's secret"),
                    ("length_required", "length required"),
                ],
                max_length=32,
                verbose_name="reason",
            ),
        ),
        migrations.RunPython(forget_unreadable_timestamps, migrations.RunPython.noop),
    ]
