"""StreamExecutionReports messages as bytes, each report serialized once.

A stream message is a ``StreamExecutionReportsResponse``: one report (field ``report``)
or a run of them (field ``reports``). On the wire an embedded message field is its tag,
its length as a varint and its bytes, so a message of any run of reports is the
concatenation of those pieces: no message is built per batch or per subscriber, and a
report's bytes are made once however many subscribers and batches carry it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from oms_server.api import mapping
from oms_server.domain.reports import ExecutionReport
from protos.oms.v1 import order_service_pb2 as pb

#: Serialized reports kept for the subscribers that have not sent them yet (as many as
#: the hub keeps per account: a subscriber further behind replays from the store).
REPORTS_KEPT = 4_096
#: Serialized batches kept: subscribers that keep up send the same batches within a few
#: commits of each other. A batch may hold up to 1,000 reports, so few are kept.
BATCHES_KEPT = 256

_LENGTH_DELIMITED = 2


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(field: str) -> bytes:
    number = pb.StreamExecutionReportsResponse.DESCRIPTOR.fields_by_name[field].number
    return _varint(number << 3 | _LENGTH_DELIMITED)


_SINGLE_TAG = _tag("report")
_BATCH_TAG = _tag("reports")


class StreamEncoder:
    """Serialized stream messages, shared by every subscriber (bounded caches)."""

    def __init__(self) -> None:
        self._reports: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._batches: OrderedDict[tuple[str, int, int], bytes] = OrderedDict()

    def single(self, report: ExecutionReport) -> bytes:
        """The stream message carrying ``report`` alone (``max_batch`` 0 or 1)."""
        return _field(_SINGLE_TAG, self._report_bytes(report))

    def batch(self, reports: Sequence[ExecutionReport]) -> bytes:
        """The stream message carrying ``reports`` (consecutive, one account) in order."""
        first, last = reports[0], reports[-1]
        key = (first.account_id, first.sequence, last.sequence)
        payload = self._batches.get(key)
        if payload is None:
            payload = b"".join(_field(_BATCH_TAG, self._report_bytes(r)) for r in reports)
            self._batches[key] = payload
            if len(self._batches) > BATCHES_KEPT:
                self._batches.popitem(last=False)
        return payload

    def _report_bytes(self, report: ExecutionReport) -> bytes:
        key = (report.account_id, report.sequence)
        data = self._reports.get(key)
        if data is None:
            data = mapping.report_message(report).SerializeToString()
            self._reports[key] = data
            if len(self._reports) > REPORTS_KEPT:
                self._reports.popitem(last=False)
        return data


def _field(tag: bytes, data: bytes) -> bytes:
    return tag + _varint(len(data)) + data
