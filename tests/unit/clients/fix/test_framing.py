"""The front's framer cuts a client's bytes into messages as QuickFIX's parser does."""

from __future__ import annotations

import pytest

from clients.fix.framing import Framer, FramingError
from tests.support.fix_raw import encode

LOGON = encode([(35, "A"), (49, "C"), (56, "OMS"), (34, "1"), (98, "0"), (108, "30")])
ORDER = encode([(35, "D"), (49, "C"), (56, "OMS"), (34, "2"), (11, "c1"), (58, "a=b 10=7")])


def test_whole_messages_come_out_in_order_however_the_bytes_arrive() -> None:
    stream = LOGON + ORDER
    for cut in range(1, len(stream)):
        framer = Framer()
        assert framer.feed(stream[:cut]) + framer.feed(stream[cut:]) == [LOGON, ORDER]
        assert framer.pending_bytes == 0


def test_a_message_over_the_limit_is_refused_from_its_body_length() -> None:
    framer = Framer(max_message_bytes=1000)
    with pytest.raises(FramingError, match="over the limit of 1000"):
        framer.feed(b"8=FIX.4.4\x019=1048576\x0135=D\x01")


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\n\r\n",
        b"8=FIX.4.4\x01" + b"x" * 40,
        b"8=FIX.4.4\x019=12a\x01",
        ORDER[:-8] + b"A" * 64,
    ],
)
def test_bytes_that_are_no_fix_stream_are_refused(garbage: bytes) -> None:
    with pytest.raises(FramingError, match=r"garbled|not a number"):
        Framer().feed(garbage)


def test_an_incomplete_message_waits_for_more() -> None:
    framer = Framer()
    assert framer.feed(ORDER[:-3]) == []
    assert framer.pending_bytes == len(ORDER) - 3
