"""A small HTTP/1.1 client for the operator page's endpoints: JSON calls and an SSE reader."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

#: Seconds any read of the page's server may take.
READ_TIMEOUT_S = 10.0


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class SseEvent:
    event: str
    data: str
    id: str | None

    def json(self) -> object:
        return json.loads(self.data)


async def _request(
    host: str, port: int, method: str, path: str, headers: dict[str, str], body: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int, dict[str, str]]:
    reader, writer = await asyncio.open_connection(host, port)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT_S)
    status = int(status_line.split()[1])
    answer_headers: dict[str, str] = {}
    while True:
        line = (await asyncio.wait_for(reader.readline(), READ_TIMEOUT_S)).decode().strip()
        if not line:
            break
        name, _, value = line.partition(":")
        answer_headers[name.strip().lower()] = value.strip()
    return reader, writer, status, answer_headers


async def call(
    base: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    json_body: object | None = None,
    headers: dict[str, str] | None = None,
) -> HttpAnswer:
    """One request to ``base`` (host:port); the whole answer (Content-Length bodies only)."""
    host, _, port = base.rpartition(":")
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    body = b""
    if json_body is not None:
        body = json.dumps(json_body).encode()
        sent.setdefault("Content-Type", "application/json")
    reader, writer, status, answer_headers = await _request(
        host, int(port), method, path, sent, body
    )
    try:
        length = int(answer_headers.get("content-length", "0"))
        data = await asyncio.wait_for(reader.readexactly(length), READ_TIMEOUT_S)
    finally:
        writer.close()
    return HttpAnswer(status, answer_headers, data)


@dataclass
class EventStream:
    """An open ``/api/events`` stream (chunked), read event by event."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    status: int
    _buffer: str = ""
    _chunks_done: bool = False
    seen: list[SseEvent] = field(default_factory=list)

    @classmethod
    async def open(cls, base: str, *, token: str, last_event_id: str | None = None) -> EventStream:
        host, _, port = base.rpartition(":")
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        reader, writer, status, _ = await _request(
            host, int(port), "GET", "/api/events", headers, b""
        )
        return cls(reader, writer, status)

    async def _more(self) -> bool:
        size_line = await asyncio.wait_for(self.reader.readline(), READ_TIMEOUT_S)
        if not size_line:
            return False
        size = int(size_line.strip() or b"0", 16)
        if size == 0:
            return False
        chunk = await asyncio.wait_for(self.reader.readexactly(size + 2), READ_TIMEOUT_S)
        self._buffer += chunk[:-2].decode().replace("\r\n", "\n")
        return True

    async def next_event(self) -> SseEvent | None:
        """The next event (comments skipped), or None once the server ended the stream."""
        while True:
            while "\n\n" not in self._buffer:
                if not await self._more():
                    return None
            block, self._buffer = self._buffer.split("\n\n", 1)
            fields: dict[str, list[str]] = {}
            for line in block.split("\n"):
                if not line or line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)
            if "data" not in fields and "event" not in fields:
                continue  # a retry-only or comment-only block
            ids = fields.get("id")
            event = SseEvent(
                fields.get("event", ["message"])[0],
                "\n".join(fields.get("data", [])),
                ids[-1] if ids else None,
            )
            self.seen.append(event)
            return event

    async def until(self, predicate: object, *, timeout_s: float = READ_TIMEOUT_S) -> SseEvent:
        """Read until an event for which ``predicate(event)`` is true."""
        assert callable(predicate)

        async def read() -> SseEvent:
            while True:
                event = await self.next_event()
                if event is None:
                    raise AssertionError("the server ended the stream")
                if predicate(event):
                    return event

        return await asyncio.wait_for(read(), timeout_s)

    async def close(self) -> None:
        self.writer.close()
        with_suppress = asyncio.gather(self.writer.wait_closed(), return_exceptions=True)
        await asyncio.wait_for(with_suppress, READ_TIMEOUT_S)
