"""FIX over a raw socket, for hostile-input tests: build any bytes, read what comes back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from tests.support.fix_client import FixMessage

READ_TIMEOUT_S = 5.0


def sending_time() -> str:
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime())


def encode(
    fields: list[tuple[int, str]], *, begin: str = "FIX.4.4", checksum: int | None = None
) -> bytes:
    """A message with BodyLength and CheckSum computed (or ``checksum`` forced)."""
    body = "".join(f"{tag}={value}\x01" for tag, value in fields)
    head = f"8={begin}\x019={len(body.encode())}\x01"
    total = sum((head + body).encode()) % 256 if checksum is None else checksum
    return (head + body).encode() + f"10={total:03d}\x01".encode()


@dataclass
class RawFix:
    """One raw connection speaking as ``sender``; numbers its messages from 1."""

    port: int
    sender: str
    target: str = "OMS"
    next_seq: int = 1
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    _buffer: bytes = field(default=b"")

    async def connect(self) -> RawFix:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    def message(
        self,
        msg_type: str,
        body: list[tuple[int, str]],
        *,
        begin: str = "FIX.4.4",
        checksum: int | None = None,
    ) -> bytes:
        header = [(35, msg_type), (49, self.sender), (56, self.target), (34, str(self.next_seq))]
        self.next_seq += 1
        return encode([*header, (52, sending_time()), *body], begin=begin, checksum=checksum)

    def logon(self, token: str, heartbeat_s: int = 30) -> bytes:
        return self.message("A", [(98, "0"), (108, str(heartbeat_s)), (554, token)])

    async def send(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)
        await self.writer.drain()

    async def read_message(self, timeout_s: float = READ_TIMEOUT_S) -> FixMessage | None:
        """The next whole message, or None when the connection closes first."""
        assert self.reader is not None
        deadline = time.monotonic() + timeout_s
        while True:
            end = self._buffer.find(b"\x0110=")
            stop = -1 if end < 0 else self._buffer.find(b"\x01", end + 4)
            if stop >= 0:
                raw, self._buffer = self._buffer[: stop + 1], self._buffer[stop + 1 :]
                message = FixMessage.parse("", raw.decode("latin-1"))
                return FixMessage(message.fields.get(35, ""), message.fields, message.raw)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no message within {timeout_s}s (got {self._buffer!r})")
            try:
                data = await asyncio.wait_for(self.reader.read(65536), remaining)
            except ConnectionResetError:
                return None
            if not data:
                return None
            self._buffer += data

    async def read_until(self, msg_type: str, timeout_s: float = READ_TIMEOUT_S) -> FixMessage:
        while True:
            message = await self.read_message(timeout_s)
            if message is None:
                raise AssertionError(f"the connection closed before a {msg_type}")
            if message.msg_type == msg_type:
                return message

    async def closed(self, timeout_s: float = READ_TIMEOUT_S) -> bool:
        """True once the gateway closes the connection (messages before it are dropped)."""
        while True:
            if await self.read_message(timeout_s) is None:
                return True

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()
