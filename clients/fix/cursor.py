"""Where each session is in each account's report stream, durably, beside its FIX store.

The truth is the session's QuickFIX message store: an ExecutionReport stored there is
delivered (sent, or resent when the client asks for the gap), and each one carries its
account (1) and the OMS's sequence (5001). The cursor is recovered from a checkpoint
file plus the store written after it, so a gateway killed at any moment resumes each
account's stream after the last report it stored: none lost, none repeated.

The checkpoint records how far into the store's index (``<session>.header``, QuickFIX's
FileStore format: ``seq,offset,size`` entries into ``<session>.body``) it accounts for.
QuickFIX flushes the body before the index, and calls the application (``toApp``, where
``stored`` is called) before either, so every entry before that point is in the cursor.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import Final

from clients.fix.protocol import MsgType, Tag

log = logging.getLogger(__name__)

_ENTRY: Final = re.compile(rb"(\d+),(\d+),(\d+) ")
_SOH: Final = b"\x01"


class ReportCursor:
    """Per session: the last sequence of each account stored (and handed to be sent)."""

    def __init__(self, checkpoint_path: Path, store_prefix: Path) -> None:
        self._checkpoint_path = checkpoint_path
        self._header_path = store_prefix.with_name(store_prefix.name + "header")
        self._body_path = store_prefix.with_name(store_prefix.name + "body")
        self._lock = threading.Lock()
        self._stored: dict[str, int] = {}
        self._queued: dict[str, int] = {}
        self._dirty = False

    @classmethod
    def recover(cls, checkpoint_path: Path, store_prefix: Path) -> ReportCursor:
        """The cursor as the checkpoint and the store written after it say."""
        cursor = cls(checkpoint_path, store_prefix)
        header_bytes = cursor._load_checkpoint()
        cursor._scan_store(header_bytes)
        return cursor

    def stored(self, account: str, sequence: int) -> None:
        """The report ``sequence`` of ``account`` is being stored (QuickFIX's toApp)."""
        with self._lock:
            if sequence > self._stored.get(account, 0):
                self._stored[account] = sequence
                self._dirty = True

    def queued(self, account: str, sequence: int) -> None:
        """The report was handed to the session's sender (it will be stored)."""
        with self._lock:
            self._queued[account] = max(sequence, self._queued.get(account, 0))

    def follow(self, account: str) -> None:
        """Follow ``account`` from its first report on (no-op if followed already)."""
        with self._lock:
            if account not in self._stored:
                self._stored[account] = 0
                self._dirty = True

    def resume_after(self, account: str) -> int:
        """The sequence to resume ``account``'s stream after."""
        with self._lock:
            return max(self._stored.get(account, 0), self._queued.get(account, 0))

    def rewind(self, account: str) -> None:
        """A report handed to the sender was not stored: resume after the stored ones."""
        with self._lock:
            self._queued[account] = self._stored.get(account, 0)

    def accounts(self) -> list[str]:
        with self._lock:
            return sorted(self._stored)

    def checkpoint(self, *, force: bool = False) -> None:
        """Write the checkpoint if anything was stored since the last one."""
        header_bytes = _size(self._header_path)
        with self._lock:
            if not (self._dirty or force):
                return
            state = {"header_bytes": header_bytes, "sequences": dict(self._stored)}
            self._dirty = False
        self._checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._checkpoint_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, sort_keys=True))
        os.replace(temporary, self._checkpoint_path)

    def _load_checkpoint(self) -> int:
        try:
            state = json.loads(self._checkpoint_path.read_text())
        except FileNotFoundError:
            return 0
        except (OSError, ValueError):
            log.warning(
                "unreadable FIX cursor %s: rebuilding it from the store", self._checkpoint_path
            )
            return 0
        self._stored = {str(a): int(s) for a, s in state.get("sequences", {}).items()}
        header_bytes = int(state.get("header_bytes", 0))
        # A store reset (ResetSeqNumFlag) starts the files again: read them from the start.
        return header_bytes if header_bytes <= _size(self._header_path) else 0

    def _scan_store(self, header_bytes: int) -> None:
        try:
            with self._header_path.open("rb") as header:
                header.seek(header_bytes)
                entries = _ENTRY.findall(header.read())
            if not entries:
                return
            with self._body_path.open("rb") as body:
                for _, offset, size in entries:
                    body.seek(int(offset))
                    self._apply(body.read(int(size)))
        except FileNotFoundError:
            return
        self._dirty = True

    def _apply(self, message: bytes) -> None:
        fields = dict(f.partition(b"=")[::2] for f in message.split(_SOH) if f)
        if fields.get(str(Tag.MSG_TYPE).encode()) != MsgType.EXECUTION_REPORT.encode():
            return
        sequence = fields.get(str(Tag.OMS_SEQUENCE).encode())
        account = fields.get(str(Tag.ACCOUNT).encode())
        if sequence is not None and account is not None and sequence.isdigit():
            self.stored(account.decode(), int(sequence))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
