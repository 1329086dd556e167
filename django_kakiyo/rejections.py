"""Keep a bounded record of refused requests, so an operator can see why deliveries fail.

Refused requests come from anyone on the internet, so what is kept has a stated bound: per
row, ``REJECTED_BODY_PREFIX_BYTES`` of body, ``STORED_HEADERS_MAX_BYTES`` of headers and at
most about 1 KiB of short fields (reason, detail, path, content type, method, address); per
table, ``REJECTED_REQUESTS_MAX_ROWS`` rows.
"""

from __future__ import annotations

from collections.abc import Mapping

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
    return int(rows * per_row)


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
) -> RejectedRequest:
    """Keep a refused request within the bounds above, then trim the table to its cap.

    Trimming by primary key is one index range delete per insert, so the table stays
    bounded without ever counting it. Waits on the database at most ``STORE_TIMEOUT``.
    """
    with bounded_transaction():
        rejected = RejectedRequest.objects.create(
            reason=reason,
            detail=storable_text(detail, 255),
            method=storable_text(method, 16),
            path=storable_text(path, 255),
            content_type=storable_text(headers.get("Content-Type", ""), 255),
            content_length=storable_bigint(content_length),
            body_prefix=body_prefix[: kakiyo_settings.REJECTED_BODY_PREFIX_BYTES],
            headers=storable_headers(headers, kakiyo_settings.STORED_HEADERS_MAX_BYTES),
            remote_addr=remote_addr,
        )
        max_rows = kakiyo_settings.REJECTED_REQUESTS_MAX_ROWS
        if max_rows is not None:
            RejectedRequest.objects.filter(pk__lte=rejected.pk - max_rows).delete()
    return rejected
