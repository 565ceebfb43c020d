"""The log upload of the Data export page: whether it is on, its limits, and the import itself.

Every bound holds on the server whatever the browser sends: the upload's size (Streamlit's
``server.maxUploadSize`` is set from ``EASYFLOW_IMPORT_MAX_MB``, and the size is checked again
here), the decompressed content, one line's length, and the rejects kept to show.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd

from data_access import ingest
from dashboard import auth, data

DEFAULT_MAX_MB = 100
# A gzip file's content may be this many times its own size, and at most EXPANSION_LIMIT times the
# upload limit, before the import stops (logs compress about 10:1, repetitive ones 30:1) ...
EXPANSION_LIMIT = 50
# ... in at most one line per this many of its bytes (a log line takes about 30 compressed): the
# CPU an upload costs follows its lines, so a small file stays a small job.
COMPRESSED_BYTES_PER_LINE = 4
SHOWN_REJECTS = 1_000


def import_allowed() -> bool:
    """Uploading logs writes to the database: only where the operator says so with
    ``EASYFLOW_IMPORT=on`` (the demo database included)."""
    return os.environ.get("EASYFLOW_IMPORT", "").strip().lower() in ("1", "on", "true", "yes")


def import_max_mb() -> int:
    """The upload size limit in MB (``EASYFLOW_IMPORT_MAX_MB``, default 100)."""
    try:
        return max(1, int(os.environ.get("EASYFLOW_IMPORT_MAX_MB", str(DEFAULT_MAX_MB))))
    except ValueError:
        return DEFAULT_MAX_MB


def server_limit_mb() -> int:
    """What Streamlit's server takes in one upload, in MB: ``import_max_mb`` with the import on,
    else 0 (nothing: any visitor's session can post to the upload endpoint, and Streamlit keeps
    the files in memory)."""
    return import_max_mb() if import_allowed() else 0


def apply_server_limit() -> None:
    """Make Streamlit's server refuse uploads over ``server_limit_mb`` (the widget's own limit is
    checked only in the browser)."""
    from streamlit import config

    if config.get_option("server.maxUploadSize") != server_limit_mb():
        config.set_option("server.maxUploadSize", server_limit_mb(), "EASYFLOW_IMPORT")


@dataclass(frozen=True)
class ImportResult:
    """What an upload did: the summary, the first rejects (``SHOWN_REJECTS``), and the reason it
    stopped early (None when it read the whole file)."""

    file_name: str
    summary: ingest.Summary
    rejects: pd.DataFrame
    stopped: str | None = None


def import_log(url: str, upload, progress, *, principal: auth.Principal, write_url: str | None = None) -> ImportResult:
    """Import an uploaded log file (``upload``: a file-like object with ``name`` and ``size``) as
    ``principal``, and write the audit line. Cached results over the ranges it wrote rows into are
    read again (``data.note_import``); nothing is dropped when it wrote nothing. The rows go to
    ``write_url`` (the primary) when the pages read a standby at ``url``. Raises
    ``auth.Refused`` for a role without the import, and what the database raises before the
    import starts (``data.database_errors`` shows it)."""
    if not principal.may("import"):
        auth.audit("import_refused", principal, file=upload.name)
        raise auth.Refused("import")
    limit = import_max_mb() * 1024 * 1024
    size = max(getattr(upload, "size", 0), 1)
    kept = ingest.KeptRejects(SHOWN_REJECTS)
    summary, stopped = ingest.Summary(), None
    failed = None
    try:
        if size > limit:
            stopped = f"the file is larger than {import_max_mb():,} MB"
        else:
            content = ingest.decompressed(upload)
            lines = ingest.bounded_lines(content, max_bytes=min(size, limit // 2) * EXPANSION_LIMIT,
                                         max_lines=size // COMPRESSED_BYTES_PER_LINE + 1 if content is not upload else None)
            try:
                summary = ingest.ingest_lines(data.engine_for(write_url or url), lines, upload.name, kept,
                                              lambda s: progress(min(upload.tell() / size, 1.0)))
            except ingest.ImportStopped as error:
                stopped = str(error)
                summary = error.summary or summary
        data.note_import(url, summary.first, summary.last)
    except Exception as error:  # audited with what was committed before it, then shown by the caller
        failed = type(error).__name__
        raise
    finally:
        auth.audit("import", principal, file=upload.name, bytes=getattr(upload, "size", None),
                   rows_read=summary.read, imported=summary.imported, duplicates=summary.duplicates,
                   rejected=summary.rejected, stopped=stopped, failed=failed)
    frame = pd.DataFrame([{"line": r.line, "reason": r.reason, "text": r.text} for r in kept.items],
                         columns=["line", "reason", "text"])
    return ImportResult(upload.name, summary, frame, stopped)
