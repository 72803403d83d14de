"""Cutting the bytes a client sends into FIX messages, with a ceiling on their size.

QuickFIX buffers whatever a connection sends until a message completes, without limit;
the gateway's front cuts the stream first, the way QuickFIX's parser does (BeginString,
BodyLength, then the CheckSum field after the body), so that an endless or enormous
message, or bytes that are no FIX at all, end the connection instead of filling memory.
Checksums and everything else are QuickFIX's to check.
"""

from __future__ import annotations

from typing import Final

#: Longest message a client may send (a NewOrderSingle is about 200 bytes).
DEFAULT_MAX_MESSAGE_BYTES: Final = 64 * 1024
#: BeginString and BodyLength take this much at most before the body starts.
_HEADER_PREFIX_BYTES: Final = 32
_BEGIN: Final = b"8="
_LENGTH: Final = b"\x019="
_CHECKSUM: Final = b"\x0110="
_SOH: Final = b"\x01"


class FramingError(Exception):
    """The client's bytes are not a stream of FIX messages, or a message is too long."""

    def __init__(self, message: str) -> None:
        super().__init__(f"fix-framing: {message}")
        self.text = message


class Framer:
    """Feed it what a connection reads; it returns each message once complete."""

    def __init__(self, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self.max_message_bytes = max_message_bytes
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """The messages ``data`` completes, in order; FramingError if the stream is bad."""
        self._buffer += data
        messages = []
        while (message := self._next()) is not None:
            messages.append(message)
        return messages

    @property
    def pending_bytes(self) -> int:
        """Bytes of a message not yet complete."""
        return len(self._buffer)

    def _next(self) -> bytes | None:
        buffer = self._buffer
        if len(buffer) < len(_BEGIN):
            return None
        if not buffer.startswith(_BEGIN):
            raise FramingError("garbled input: a message must start with BeginString (8)")
        body_start, length = self._body_length()
        if body_start < 0:
            return None
        body_end = body_start + length
        if len(buffer) < body_end:
            return None
        checksum = buffer.find(_CHECKSUM, body_end - 1)
        end = -1 if checksum < 0 else buffer.find(_SOH, checksum + len(_CHECKSUM))
        if end < 0:
            if len(buffer) > body_end + _HEADER_PREFIX_BYTES:
                raise FramingError("garbled input: no CheckSum (10) after the body")
            return None
        message = bytes(buffer[: end + 1])
        del buffer[: end + 1]
        return message

    def _body_length(self) -> tuple[int, int]:
        """(where the body starts, BodyLength), or (-1, 0) until both have arrived."""
        buffer = self._buffer
        tag = buffer.find(_LENGTH, 0, _HEADER_PREFIX_BYTES)
        value_end = -1 if tag < 0 else buffer.find(_SOH, tag + len(_LENGTH), _HEADER_PREFIX_BYTES)
        if value_end < 0:
            if len(buffer) >= _HEADER_PREFIX_BYTES:
                raise FramingError("garbled input: no BodyLength (9) after BeginString (8)")
            return -1, 0
        digits = bytes(buffer[tag + len(_LENGTH) : value_end])
        if not digits.isdigit():
            raise FramingError(f"BodyLength (9) is not a number: {digits[:16]!r}")
        length = int(digits)
        if length > self.max_message_bytes:
            raise FramingError(
                f"a message of {length} bytes is over the limit of {self.max_message_bytes}"
            )
        return value_end + 1, length
