"""Keep a bounded record of refused requests, so an operator can see why deliveries fail.

Refused requests come from anyone on the internet, so what is kept has a stated bound: per
row, ``REJECTED_BODY_PREFIX_BYTES`` of body, ``STORED_HEADERS_MAX_BYTES`` of headers and at
most about 1 KiB of short fields (reason, detail, path, content type, method, address); per
table, ``REJECTED_REQUESTS_MAX_ROWS`` rows; and besides, for the whole table,
``REJECTED_SIGNED_BODIES_BYTES`` of whole bodies of requests that carried a well-formed
signature (so a botched secret rotation's deliveries can be verified again): when a new one
would pass that, the oldest are cut back to their prefix.
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db.models.functions import Length

from .conf import kakiyo_settings
from .database import bounded_transaction
from .models import RejectedRequest
from .storable import storable_bigint, storable_headers, storable_text

#: Bytes a row holds besides the body prefix and the headers, at most: the short text
#: columns at their limits (4 x 255 + 16 + 32 characters of up to 4 bytes) are well under it,
#: with the numbers, time and address.
ROW_OVERHEAD_BYTES = 5 * 1024


def max_table_bytes() -> int | None:
    """The most the rejected-request rows can hold, by the settings (None: no row cap)."""
    rows = kakiyo_settings.REJECTED_REQUESTS_MAX_ROWS
    if rows is None:
        return None
    per_row = (
        kakiyo_settings.REJECTED_BODY_PREFIX_BYTES
        + kakiyo_settings.STORED_HEADERS_MAX_BYTES
        + ROW_OVERHEAD_BYTES
    )
    return int(rows * per_row + kakiyo_settings.REJECTED_SIGNED_BODIES_BYTES)


def record_rejection(
    *,
    reason: str,
    detail: str = "",
    method: str,
    path: str,
    headers: Mapping[str, str],
    remote_addr: str | None,
    body_prefix: bytes = b"",
    content_length: int | None = None,
    signature: str = "",
) -> RejectedRequest:
    """Keep a refused request within the bounds above, then trim the table to its cap.

    Trimming by primary key is one index range delete per insert, so the table stays
    bounded without ever counting it. Waits on the database at most ``STORE_TIMEOUT``.
    ``signature``: the well-formed signature it carried, if any; with one, the whole body is
    kept when it fits ``REJECTED_SIGNED_BODIES_BYTES``.
    """
    prefix = int(kakiyo_settings.REJECTED_BODY_PREFIX_BYTES)
    pool = int(kakiyo_settings.REJECTED_SIGNED_BODIES_BYTES)
    whole = len(body_prefix) <= prefix or bool(signature and len(body_prefix) <= pool)
    with bounded_transaction():
        rejected = RejectedRequest.objects.create(
            reason=reason,
            detail=storable_text(detail, 255),
            method=storable_text(method, 16),
            path=storable_text(path, 255),
            content_type=storable_text(headers.get("Content-Type", ""), 255),
            content_length=storable_bigint(content_length),
            body_prefix=body_prefix if whole else body_prefix[:prefix],
            body_complete=whole,
            signature=signature,
            headers=storable_headers(headers, kakiyo_settings.STORED_HEADERS_MAX_BYTES),
            remote_addr=remote_addr,
        )
        max_rows = kakiyo_settings.REJECTED_REQUESTS_MAX_ROWS
        if max_rows is not None:
            RejectedRequest.objects.filter(pk__lte=rejected.pk - max_rows).delete()
        if len(body_prefix) > prefix and whole:
            _cut_back_whole_bodies(prefix, pool)
    return rejected


def _cut_back_whole_bodies(prefix: int, pool: int) -> None:
    """Cut the oldest whole bodies over ``prefix`` bytes back to it while they hold more
    than ``pool`` bytes together (only run when such a body was just kept: seldom)."""
    rows = list(
        RejectedRequest.objects.filter(body_complete=True)
        .annotate(size=Length("body_prefix"))
        .filter(size__gt=prefix)
        .order_by("-pk")
        .values_list("pk", "size")
    )
    kept = 0
    for pk, size in rows:
        kept += size
        if kept > pool:
            row = RejectedRequest.objects.get(pk=pk)
            row.body_prefix, row.body_complete = bytes(row.body_prefix)[:prefix], False
            row.save(update_fields=["body_prefix", "body_complete"])
