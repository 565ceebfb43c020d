"""The audit trail: who did what, when, from where, with what outcome; and how an admin reads it.

Every audit line (``dashboard.auth.audit``) is a structlog line (logger ``easyflow.audit``) and,
with ``EASYFLOW_AUDIT_FILE``, also one JSON object per line appended to that file: ``time``,
``event``, ``user``, ``role``, ``via``, ``client`` (the visitor's address), ``session`` (one
browser tab's session), and the event's details (an export's table, filters, rows, bytes and
masking; a lookup's user or dialog; an import's file and what it committed). Never a secret.

    python -m dashboard.audit [--file F] [--user U] [--event E] [--since YYYY-MM-DD] [--json]

prints the lines that match, oldest first (``--json``: as stored).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path

FILE_SETTING = "EASYFLOW_AUDIT_FILE"
_lock = threading.Lock()
SHOWN_FIELDS = ("time", "event", "user", "role", "client", "session")


def destination() -> Path | None:
    value = os.environ.get(FILE_SETTING, "").strip()
    return Path(value) if value else None


def write(line: Mapping) -> None:
    """Append ``line`` (with its UTC ``time``) to the audit file, when one is configured. A file
    that cannot be written is logged, never raised: the user's action goes on."""
    path = destination()
    if path is None:
        return
    record = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"), **line}
    text = json.dumps(record, ensure_ascii=False, default=str) + "\n"
    try:
        with _lock, open(path, "a", encoding="utf-8") as out:
            out.write(text)
    except OSError as error:
        from data_access import logs

        logs.get("easyflow.audit").error("audit_file_unwritable", problem=type(error).__name__)


def read(path: Path, *, user: str | None = None, event: str | None = None,
         since: datetime | None = None) -> Iterator[dict]:
    """The lines of the audit file at ``path`` that match (every one when nothing is asked); a
    line that is not JSON is skipped."""
    with open(path, encoding="utf-8", errors="replace") as lines:
        for raw in lines:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(line, dict):
                continue
            if user is not None and line.get("user") != user:
                continue
            if event is not None and line.get("event") != event:
                continue
            if since is not None and str(line.get("time", "")) < since.isoformat():
                continue
            yield line


def shown(line: Mapping) -> str:
    """One line for a terminal: the fixed fields, then the details as ``name=value``."""
    head = " ".join(str(line.get(name, "-")) for name in SHOWN_FIELDS)
    details = " ".join(f"{name}={json.dumps(value, ensure_ascii=False, default=str)}"
                       for name, value in line.items() if name not in SHOWN_FIELDS and name not in ("via", "audit"))
    return f"{head} {details}".rstrip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboard.audit", description="Read the audit trail.")
    parser.add_argument("--file", type=Path, default=destination(), help=f"the audit file (default: {FILE_SETTING})")
    parser.add_argument("--user", help="only this user's lines (an e-mail, or 'anonymous')")
    parser.add_argument("--event", help="only this event (sign_in, export, lookup, import, access_refused, …)")
    parser.add_argument("--since", type=lambda v: datetime.fromisoformat(v), help="from this date or time (UTC)")
    parser.add_argument("--json", action="store_true", help="the lines as stored")
    args = parser.parse_args(argv)
    if args.file is None:
        print(f"no audit file: set {FILE_SETTING} or pass --file", file=sys.stderr)
        return 2
    try:
        for line in read(args.file, user=args.user, event=args.event, since=args.since):
            print(json.dumps(line, ensure_ascii=False) if args.json else shown(line))
    except OSError as error:
        print(f"cannot read the audit file ({type(error).__name__})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
