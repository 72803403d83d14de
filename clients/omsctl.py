"""omsctl: the operator and trader CLI of the OMS, built on the SDK.

    omsctl submit AAPL buy 100 --limit 190.00 --account ACC1
    omsctl list --account ACC1 --state new --all --json
    omsctl submit AAPL buy 100 --type market --wait       # fills as they come
    omsctl watch --account ACC1                           # from now; Ctrl-C exits 0
    omsctl watch --account ACC1 --from-sequence 0         # replay everything, then live
    source <(omsctl completion bash)                      # shell completion

Run bare, omsctl lists its commands (exit 2). Human output names enums without their
prefixes (BUY, LIMIT, PARTIALLY_FILLED) and prints prices at the instrument's tick
(190.10, not 190.1); ``--json`` prints the API's messages as they are.

``watch`` starts at now: it asks the stream for a sequence past the account's head,
and the server's OUT_OF_RANGE refusal names the head (ErrorInfo ``last_sequence``).

Global options (before or after the command): ``--target`` (default ``OMS_GRPC_ADDR``
or 127.0.0.1:50051), ``--token`` (default ``OMS_TOKEN``), ``--json``, ``--timeout``,
``--tls-ca``. Development convenience: with no token given, omsctl mints a short-lived
admin token from the secret the local stack uses (``OMS_AUTH_SECRET``, else
``$OMS_STATE_DIR/auth_secret``, i.e. ``.oms/auth_secret`` written by ``oms up``).

Commands that act for one account take ``--account``; without it omsctl uses
``OMS_ACCOUNT``, else the only account named in the token.

Exit codes: 0 done, 1 the server refused (status, reason and field violations go to
stderr), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import json
import math
import os
import re
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar, cast

import grpc
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table

from clients.quality import QualitySummary, summarize
from clients.sdk import OmsClient, OmsError, Submit, TlsOptions
from clients.sdk.client import DEFAULT_TIMEOUT_S, RiskLimitChanges
from protos.oms.v1 import account_service_pb2, admin_service_pb2, common_pb2, order_pb2

T = TypeVar("T")

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEFAULT_TARGET = "127.0.0.1:50051"
#: Lifetime of the admin token omsctl mints from the local secret.
MINTED_TOKEN_TTL_S = 3600
#: Width of human output when stdout is not a terminal (so pipes get whole ids).
PIPE_WIDTH_CHARS = 200

SIDES = ("buy", "sell")
#: The order types omsctl takes, from the API's enum (the server's order-type table names
#: each by the same suffix: a test holds the two equal).
ORDER_TYPES = tuple(n.removeprefix("ORDER_TYPE_").lower() for n in common_pb2.OrderType.keys()[1:])
PEG_TYPES = tuple(n.removeprefix("PEG_TYPE_").lower() for n in common_pb2.PegType.keys()[1:])
TIFS = ("day", "gtc", "ioc", "fok", "gtd")
LIST_KINDS = tuple(
    n.removeprefix("CONTINGENCY_TYPE_").lower() for n in common_pb2.ContingencyType.keys()[1:]
)
#: The prices each order type of a ``submit-list`` ORDER takes, in order.
LIST_ORDER_PRICES: dict[str, tuple[str, ...]] = {
    "limit": ("limit_price",),
    "market": (),
    "stop": ("stop_price",),
    "stop_limit": ("stop_price", "limit_price"),
    "trailing_stop": ("trailing_offset",),
}
#: ``--expire-time +1h30m``: a duration from now in days, hours, minutes and seconds.
DURATION_RE = re.compile(r"\+(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
STRATEGIES = ("best_price", "liquidity", "direct")
STATES = tuple(n.removeprefix("ORDER_STATE_").lower() for n in common_pb2.OrderState.keys()[1:])
#: Commands whose Ctrl-C is the normal way out.
FOLLOWING_COMMANDS = ("watch", "quotes")
#: Commands whose human output shows prices (they load the instruments' ticks first).
PRICED_COMMANDS = (
    "submit",
    "submit-list",
    "cancel",
    "replace",
    "get",
    "list",
    "events",
    "fills",
    "watch",
)
#: A from_sequence past any account's head: the refusal names the head (``watch`` from now).
FAR_PAST_HEAD_SEQUENCE = 2**62
#: States after which an order changes no more (``submit --wait`` stops there).
FINAL_STATES = frozenset(
    common_pb2.OrderState.Value(f"ORDER_STATE_{n}")
    for n in ("FILLED", "CANCELED", "REPLACED", "REJECTED", "EXPIRED")
)
SHELLS = ("bash",)

ACCOUNT_HELP = "default: OMS_ACCOUNT, else the token's only account"
EPILOG = """\
token: --token, else OMS_TOKEN; for local development, with neither set, omsctl mints
a one-hour admin token from OMS_AUTH_SECRET or .oms/auth_secret (written by `oms up`).
exit codes: 0 done, 1 refused by the server (details on stderr), 2 usage.
"""

Handler = Callable[[OmsClient, argparse.Namespace, "Output"], Awaitable[None]]


class UsageError(Exception):
    """The command line cannot be run as given."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run omsctl with ``argv`` (default: sys.argv[1:]); returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 after --help, 2 on bad usage
        return int(exc.code or 0) if isinstance(exc.code, int | None) else EXIT_USAGE
    if args.command == "completion":
        print(completion_script(parser, args.shell), end="")
        return EXIT_OK
    if getattr(args, "handler", None) is None:  # bare: the command list, on stderr
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    out = Output(as_json=args.json)
    try:
        token = resolve_token(args.token)
        return asyncio.run(_run(args, token, out))
    except UsageError as exc:
        print(f"omsctl: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OmsError as exc:
        out.refusal(exc)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        return EXIT_OK if args.command in FOLLOWING_COMMANDS else EXIT_INTERRUPTED


async def _run(args: argparse.Namespace, token: str, out: Output) -> int:
    async with OmsClient(
        args.target, token, tls=_tls(args.tls_ca), timeout_s=args.timeout
    ) as client:
        if not out.as_json and args.command in PRICED_COMMANDS:
            out.ticks = await load_ticks(client)
        await args.handler(client, args, out)
    return EXIT_OK


def non_negative(text: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def positive_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds, more than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    return value


# -- the command line ----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of every command."""
    parser = argparse.ArgumentParser(
        prog="omsctl",
        description="OMS operator and trader CLI",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _global_options(parser, defaults=True)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, defaults=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        return p

    _order_commands(command)
    _stream_and_market_commands(command)
    _account_commands(sub.add_parser("accounts", help="create, fund and show accounts"), common)
    _admin_commands(command)
    p = sub.add_parser("completion", help="print a shell completion script")
    p.add_argument("shell", choices=SHELLS, help="source <(omsctl completion bash)")
    p.set_defaults(handler=None)
    return parser


def _global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "--target",
        default=default(os.environ.get("OMS_GRPC_ADDR") or DEFAULT_TARGET),
        help=f"OMS gRPC address (default: OMS_GRPC_ADDR or {DEFAULT_TARGET})",
    )
    parser.add_argument(
        "--token", default=default(os.environ.get("OMS_TOKEN")), help="bearer token (OMS_TOKEN)"
    )
    parser.add_argument(
        "--json", action="store_true", default=default(False), help="machine-readable output"
    )
    parser.add_argument(
        "--timeout",
        type=positive_seconds,
        default=default(DEFAULT_TIMEOUT_S),
        help="deadline of each call, seconds",
    )
    parser.add_argument("--tls-ca", default=default(None), help="CA bundle file: connect with TLS")


def _order_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    p = command("submit", cmd_submit, "submit an order")
    p.add_argument("symbol", help="instrument, e.g. AAPL")
    p.add_argument("side", type=str.lower, choices=SIDES, help="buy or sell")
    p.add_argument("quantity", help="shares, a multiple of the lot size")
    p.add_argument("--limit", help="limit price")
    p.add_argument("--stop", help="stop (trigger) price; the touch price of an if-touched order")
    p.add_argument(
        "--trailing-offset", help="price distance a trailing_stop's trigger trails the market by"
    )
    p.add_argument(
        "--display-qty",
        "--display-quantity",
        dest="display_qty",
        help="iceberg: show at most this much of a limit order at once (the rest is hidden)",
    )
    p.add_argument(
        "--peg",
        type=str.lower,
        choices=PEG_TYPES,
        help="pegged: rest at the best price of the order's own side (primary), the "
        "midpoint, or the other side (market), re-pegged as the book moves; --limit caps it",
    )
    p.add_argument(
        "--peg-offset",
        help="pegged: rest this price distance from the peg, below it for a buy, above it "
        "for a sell (default 0)",
    )
    p.add_argument(
        "--type",
        type=str.lower,
        choices=ORDER_TYPES,
        help="default: pegged with --peg, limit with --limit, stop with --stop, "
        "trailing_stop with --trailing-offset; a market order needs --type market",
    )
    p.add_argument("--tif", type=str.lower, choices=TIFS, default="day", help="time in force")
    p.add_argument(
        "--expire-time",
        help="when a gtd order expires: ISO-8601 (UTC unless it has an offset) or +duration "
        "such as +90s, +30m, +1h30m, +2d",
    )
    p.add_argument("--strategy", type=str.lower, choices=STRATEGIES, help="how to route")
    p.add_argument("--venue", default="", help="venue for direct routing")
    p.add_argument("--account", help=ACCOUNT_HELP)
    p.add_argument("--client-order-id", help="your id of the order (makes retries safe)")
    p.add_argument(
        "--wait", action="store_true", help="show fills as they come until the order is final"
    )
    p = command(
        "submit-list",
        cmd_submit_list,
        "submit a contingent list: oco, oto, or bracket (entry, take profit, stop loss)",
    )
    p.add_argument("kind", type=str.lower, choices=LIST_KINDS, help="how the orders depend")
    p.add_argument("symbol", help="instrument of every order, e.g. AAPL")
    p.add_argument(
        "orders",
        nargs="+",
        metavar="ORDER",
        help="SIDE:QTY:TYPE[:PRICE[:LIMIT]], e.g. buy:100:limit:190.00, sell:100:stop:189.00, "
        "sell:100:stop_limit:189.00:188.50, buy:100:market, sell:100:trailing_stop:0.50",
    )
    p.add_argument("--tif", type=str.lower, choices=TIFS, default="day", help="time in force")
    p.add_argument("--account", help=ACCOUNT_HELP)
    p.add_argument("--list-client-id", help="your id of the list (default: generated)")
    p = command("cancel", cmd_cancel, "cancel an order")
    p.add_argument("order_id", help="the order's id")
    p = command("cancel-all", cmd_cancel_all, "mass cancel: every working order of an account")
    p.add_argument("--account", help=ACCOUNT_HELP)
    p.add_argument("--symbol", default="", help="only this instrument's orders")
    p.add_argument("--side", type=str.lower, choices=SIDES, help="only this side's orders")
    p = command("replace", cmd_replace, "change an order's quantity and/or limit price")
    p.add_argument("order_id", help="the order's id")
    p.add_argument("--qty", dest="quantity", help="new total quantity")
    p.add_argument("--limit", help="new limit price")
    p.add_argument("--client-order-id", help="id of the new order (makes retries safe)")
    p = command("get", cmd_get, "show one order")
    p.add_argument("order_id", help="the order's id")
    p = command("list", cmd_list, "list an account's orders, newest first")
    p.add_argument("--account", help=ACCOUNT_HELP)
    p.add_argument(
        "--state",
        type=str.lower,
        choices=STATES,
        action="append",
        default=[],
        help="only orders in this state (repeat for several)",
    )
    p.add_argument("--symbol", default="", help="only this instrument's orders")
    _paging(p)
    p = command("events", cmd_events, "the audit trail of one order")
    p.add_argument("order_id", help="the order's id")
    p = command("fills", cmd_fills, "an account's fills, newest first")
    p.add_argument("--account", help=ACCOUNT_HELP)
    p.add_argument("--order", default="", help="only this order's fills")
    p.add_argument("--symbol", default="", help="only this instrument's fills")
    _paging(p)
    p = command("quality", cmd_quality, "execution quality: router vs best single venue")
    p.add_argument("--account", help=ACCOUNT_HELP)
    p.add_argument("--symbol", default="", help="only this instrument's orders")


def _paging(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--page-size", type=non_negative, default=0, help="rows per page (0: the server's)"
    )
    p.add_argument("--page-token", default="", help="the page after this (printed as 'more')")
    p.add_argument("--all", action="store_true", help="every page")


def _stream_and_market_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    p = command("watch", cmd_watch, "follow execution reports live (resumes after breaks)")
    p.add_argument("--account", help=ACCOUNT_HELP)
    p.add_argument(
        "--from-sequence",
        type=non_negative,
        help="replay the reports after this sequence (0: all), then follow; default: from now",
    )
    p.add_argument("--max-reports", type=non_negative, help="stop after this many reports")
    p.add_argument("--duration", type=positive_seconds, help="stop after this many seconds")
    p = command("quotes", cmd_quotes, "consolidated and per-venue best bid and offer")
    p.add_argument("symbols", nargs="+", metavar="SYMBOL", help="instruments, e.g. AAPL MSFT")
    p.add_argument("--follow", action="store_true", help="stream quote updates")
    p.add_argument("--max-updates", type=non_negative, help="with --follow: stop after this many")
    command("instruments", cmd_instruments, "list tradable instruments")


def _account_commands(accounts: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    sub = accounts.add_subparsers(dest="account_command", metavar="ACTION", required=True)
    p = sub.add_parser("create", parents=[common], help="open an account")
    p.add_argument("account_id", help="the new account's id")
    p.set_defaults(handler=cmd_account_create)
    p = sub.add_parser("deposit", parents=[common], help="add cash")
    p.add_argument("account_id", help="the account's id")
    p.add_argument("amount", help="cash to add, e.g. 100000.00")
    p.set_defaults(handler=cmd_account_deposit)
    p = sub.add_parser("show", parents=[common], help="cash, reserved cash, positions, limits")
    p.add_argument("account_id", nargs="?", help=ACCOUNT_HELP)
    p.set_defaults(handler=cmd_account_show)
    p = sub.add_parser("limits", parents=[common], help="change the risk limits given")
    p.add_argument("account_id", help="the account's id")
    p.add_argument("--max-order-quantity", help="largest quantity of one order")
    p.add_argument("--max-order-notional", help="largest quantity x price of one order")
    p.add_argument("--price-collar-bps", help="farthest a limit may be from the reference")
    p.add_argument(
        "--restricted",
        dest="restricted_symbols",
        action="append",
        metavar="SYMBOL",
        help="a symbol the account may not trade (repeat it; replaces the list)",
    )
    p.add_argument(
        "--no-restricted",
        dest="restricted_symbols",
        action="store_const",
        const=[],
        help="clear the restricted list",
    )
    p.add_argument("--max-orders-per-second", type=non_negative, help="orders a second, at most")
    p.add_argument(
        "--allow-short", action=argparse.BooleanOptionalAction, help="may sell what it lacks"
    )
    p.add_argument(
        "--duplicate-window-ms",
        type=non_negative,
        help="refuse a same order repeated within this many milliseconds",
    )
    p.set_defaults(handler=cmd_account_limits)


def _admin_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    for name, handler, text in (
        ("halt", cmd_halt, "kill switch: cancel working orders and refuse new ones"),
        ("resume", cmd_resume, "allow trading again after halt"),
    ):
        p = command(name, handler, text)
        which = p.add_mutually_exclusive_group(required=True)
        which.add_argument("--account", help="this account only")
        which.add_argument("--all", action="store_true", help="every account")
        if name == "halt":
            p.add_argument("--reason", default="", help="for the audit trail")
    command("venues", cmd_venues, "venue health and circuit-breaker state")
    command("shards", cmd_shards, "who owns each account shard (admin)")


# -- commands ------------------------------------------------------------------------------


async def cmd_submit(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    terms = (args.limit, args.stop, args.trailing_offset, args.type, args.peg)
    if all(term is None for term in terms):
        raise UsageError("submit needs --limit PRICE, or --type market for a market order")
    account_id = account_of(args)
    # --wait: the head before the order exists, so none of its reports is missed
    after = await head_sequence(client, account_id) if args.wait else 0
    order = await client.submit_order(
        account_id=account_id,
        symbol=args.symbol,
        side=args.side,
        quantity=args.quantity,
        limit_price=args.limit,
        stop_price=args.stop,
        trailing_offset=args.trailing_offset,
        display_quantity=args.display_qty,
        peg_type=args.peg,
        peg_offset=args.peg_offset,
        order_type=args.type,
        time_in_force=args.tif,
        routing_strategy=args.strategy,
        venue=args.venue,
        client_order_id=args.client_order_id,
        expire_time=parse_expire_time(args.expire_time) if args.expire_time else None,
    )
    out.order(order)
    if args.wait and order.state not in FINAL_STATES:
        await _wait_until_final(client.reports(account_id, after), order.order_id, out)


async def cmd_submit_list(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    account_id = account_of(args)
    orders = [list_order(spec, account_id, args.symbol, args.tif) for spec in args.orders]
    reply = await client.submit_order_list(
        account_id=account_id,
        contingency_type=args.kind,
        orders=orders,
        list_client_id=args.list_client_id,
    )
    if out.as_json:
        out.json(as_dict(reply))
        return
    for order in reply.orders:
        out.order(order)


def list_order(spec: str, account_id: str, symbol: str, tif: str) -> Submit:
    """One ORDER of ``submit-list``: ``SIDE:QTY:TYPE[:PRICE[:LIMIT]]``."""
    side, quantity, kind, *prices = spec.lower().split(":")
    wanted = LIST_ORDER_PRICES.get(kind)
    if side not in SIDES or wanted is None or len(prices) != len(wanted):
        raise UsageError(
            f"order {spec!r}: expected SIDE:QTY:TYPE[:PRICE[:LIMIT]] with TYPE one of "
            f"{', '.join(LIST_ORDER_PRICES)} and its prices"
        )
    terms = dict(zip(wanted, prices, strict=True))
    return Submit(
        account_id=account_id,
        symbol=symbol,
        side=side,
        quantity=quantity,
        order_type=kind,
        time_in_force=tif,
        limit_price=terms.get("limit_price"),
        stop_price=terms.get("stop_price"),
        trailing_offset=terms.get("trailing_offset"),
    )


async def _wait_until_final(
    reports: AsyncGenerator[order_pb2.ExecutionReport, None], order_id: str, out: Output
) -> None:
    """Show ``order_id``'s reports until one leaves it in a final state."""
    try:
        async for report in reports:
            if report.order_id != order_id:
                continue
            out.report(report)
            if report.order_state in FINAL_STATES:
                return
    finally:
        await reports.aclose()


async def head_sequence(client: OmsClient, account_id: str) -> int:
    """The account's last report sequence: the stream refuses to start past it and says
    where it is (ErrorInfo ``last_sequence``)."""
    reports = client.reports(account_id, FAR_PAST_HEAD_SEQUENCE)
    try:
        await anext(reports)
    except OmsError as exc:
        head = exc.metadata.get("last_sequence", "")
        if exc.reason == "SEQUENCE_PAST_HEAD" and head.isdigit():
            return int(head)
        raise
    finally:
        await reports.aclose()
    raise OmsError("the stream started past the account's head", code=grpc.StatusCode.INTERNAL)


def parse_expire_time(text: str, now: datetime | None = None) -> datetime:
    """``--expire-time``: an ISO-8601 time (UTC unless it has an offset), or ``+`` and a
    duration from ``now`` (default: the current time)."""
    duration = DURATION_RE.fullmatch(text.strip())
    if duration is not None and any(duration.groups()):
        days, hours, minutes, seconds = (int(g or 0) for g in duration.groups())
        delta = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
        return (now or datetime.now(UTC)) + delta
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(
            f"--expire-time {text!r}: give an ISO-8601 time such as 2024-06-03T16:00:00-04:00 "
            "or a duration such as +30m"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


async def cmd_cancel(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    out.order(await client.cancel_order(args.order_id))


async def cmd_cancel_all(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    account_id = account_of(args)
    canceled = await client.cancel_all_orders(account_id, symbol=args.symbol, side=args.side)
    scope = " ".join(filter(None, [args.side, args.symbol]))
    out.done(
        {
            "account_id": account_id,
            "symbol": args.symbol,
            "side": args.side or "",
            "canceled_count": canceled,
        },
        f"mass cancel of {account_id}{f' {scope}' if scope else ''}: "
        f"{canceled} working orders asked to cancel",
    )


async def cmd_replace(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    if args.quantity is None and args.limit is None:
        raise UsageError("replace needs --qty and/or --limit")
    order = await client.replace_order(
        args.order_id,
        quantity=args.quantity,
        limit_price=args.limit,
        client_order_id=args.client_order_id,
    )
    out.order(order)


async def cmd_get(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    out.order(await client.get_order(args.order_id))


async def cmd_list(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    account_id = account_of(args)
    query = {"states": args.state, "symbol": args.symbol, "page_size": args.page_size}
    if args.all:
        orders = [o async for o in client.iter_orders(account_id, **query)]
        out.orders(orders, next_page_token="")
        return
    page = await client.list_orders(account_id, page_token=args.page_token, **query)
    out.orders(list(page.orders), next_page_token=page.next_page_token)


async def cmd_quality(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    orders = [o async for o in client.iter_orders(account_of(args), symbol=args.symbol)]
    out.quality(summarize(orders))


async def cmd_fills(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    account_id = account_of(args)
    query = {"order_id": args.order, "symbol": args.symbol, "page_size": args.page_size}
    if args.all:
        fills = [f async for f in client.iter_executions(account_id, **query)]
        out.executions(fills, next_page_token="")
        return
    page = await client.list_executions(account_id, page_token=args.page_token, **query)
    out.executions(list(page.executions), next_page_token=page.next_page_token)


async def cmd_events(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    out.events(await client.get_order_events(args.order_id))


async def cmd_watch(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    account_id = account_of(args)
    start = args.from_sequence
    if start is None:
        start = await head_sequence(client, account_id)
    reports = client.reports(account_id, start)
    await _follow(reports, out.report, args.max_reports, args.duration)


async def cmd_quotes(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    if args.follow:
        await _follow(client.stream_quotes(args.symbols), out.quote_line, args.max_updates, None)
        return
    out.quotes([await client.get_quote(symbol) for symbol in args.symbols])


async def cmd_instruments(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    out.instruments(await client.list_instruments())


async def cmd_account_create(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    out.account(await client.create_account(args.account_id))


async def cmd_account_deposit(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    out.account(await client.deposit(args.account_id, args.amount))


async def cmd_account_show(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    out.account(await client.get_account(args.account_id or account_of(args)))


async def cmd_account_limits(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    """Change only the limits given on the command line; the others stay as they are."""
    given = {name: getattr(args, name) for name in RiskLimitChanges.__annotations__}
    changes = cast(RiskLimitChanges, {k: v for k, v in given.items() if v is not None})
    if not changes:
        raise UsageError("limits needs a limit to change, e.g. --max-order-quantity 500")
    out.account(await client.set_risk_limits(args.account_id, **changes))


async def cmd_halt(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    account_id = "" if args.all else args.account
    canceled = await client.halt(account_id, reason=args.reason or "halted with omsctl")
    out.done(
        {"account_id": account_id, "halted": True, "orders_canceled": canceled},
        f"halted {account_id or 'all accounts'}: {canceled} working orders asked to cancel",
    )


async def cmd_resume(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    account_id = "" if args.all else args.account
    await client.resume(account_id)
    out.done({"account_id": account_id, "halted": False}, f"resumed {account_id or 'all'}")


async def cmd_venues(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    out.venues(await client.list_venues())


async def cmd_shards(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    out.shards(await client.list_shards())


async def _follow(
    items: AsyncGenerator[T, None],
    show: Callable[[T], None],
    max_items: int | None,
    duration_s: float | None,
) -> None:
    """Show items until ``max_items`` were shown or ``duration_s`` passed (if given)."""

    async def consume() -> None:
        shown = 0
        async for item in items:
            show(item)
            shown += 1
            if max_items is not None and shown >= max_items:
                return

    if max_items is not None and max_items <= 0:
        return
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(consume(), duration_s)
    finally:
        await items.aclose()


def completion_script(parser: argparse.ArgumentParser, shell: str) -> str:
    """A ``shell`` completion script of the parser's commands and their options."""
    assert shell == "bash"
    commands = _subcommands(parser)
    cases = "".join(
        f'        "{name}") words="{" ".join(_words(sub))}" ;;\n' for name, sub in commands.items()
    )
    return BASH_COMPLETION.format(
        commands=" ".join(commands), globals=" ".join(_words(parser)), cases=cases
    )


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's commands; a group (``accounts``) as ``accounts ACTION`` too."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sub
                found |= {f"{name}_{k}": v for k, v in _subcommands(sub).items()}
    return found


def _words(parser: argparse.ArgumentParser) -> list[str]:
    """What may follow a command: its options, and its choices or actions."""
    words: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            words += list(action.choices)
        elif action.option_strings:
            words += [o for o in action.option_strings if o.startswith("--")]
        elif action.choices:
            words += [str(c) for c in action.choices]
    return words


BASH_COMPLETION = """\
# omsctl bash completion: source <(omsctl completion bash)
_omsctl() {{
    local cur=${{COMP_WORDS[COMP_CWORD]}} key="" next words="{globals}" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        next=${{key:+${{key}}_}}${{COMP_WORDS[i]}}
        case " {commands} " in *" $next "*) key=$next ;; esac
    done
    case "$key" in
{cases}    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -F _omsctl omsctl
"""


# -- token, account, TLS -------------------------------------------------------------------


def resolve_token(given: str | None) -> str:
    """The token given, else an admin token minted from the local dev secret."""
    if given:
        return given
    from oms_server.state import AUTH_SECRET_ENV, NoAuthSecretError, read_auth_secret, state_dir

    try:
        secret = read_auth_secret(state_dir(), os.environ.get(AUTH_SECRET_ENV))
    except NoAuthSecretError as exc:
        raise UsageError(
            f"no token: pass --token or set OMS_TOKEN (see `oms token`); {exc.message}"
        ) from None
    from oms_server.api.auth import issue_token
    from oms_server.domain.access import Role

    return issue_token(secret, "omsctl", Role.ADMIN, ttl_s=MINTED_TOKEN_TTL_S)


def account_of(args: argparse.Namespace) -> str:
    """--account, else OMS_ACCOUNT, else the token's only account."""
    if getattr(args, "account", None):
        return str(args.account)
    if os.environ.get("OMS_ACCOUNT"):
        return os.environ["OMS_ACCOUNT"]
    accounts = token_accounts(args.token or "")
    if len(accounts) == 1:
        return accounts[0]
    raise UsageError("--account is required (the token does not name exactly one account)")


def token_accounts(token: str) -> list[str]:
    """The ``accounts`` claim of a JWT, read without verifying it (the server verifies)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return []
    accounts = claims.get("accounts") if isinstance(claims, dict) else None
    return [a for a in accounts if isinstance(a, str)] if isinstance(accounts, list) else []


def _tls(ca_file: str | None) -> TlsOptions | None:
    if not ca_file:
        return None
    try:
        return TlsOptions(root_certificates=Path(ca_file).read_bytes())
    except OSError as exc:
        raise UsageError(f"cannot read --tls-ca {ca_file}: {exc.strerror}") from exc


# -- output --------------------------------------------------------------------------------


def as_dict(message: Message) -> dict[str, Any]:
    """A message as JSON-ready data: proto field names, enum names, every field."""
    return MessageToDict(
        message,
        preserving_proto_field_name=True,
        always_print_fields_with_no_presence=True,
        unquote_int64_if_possible=True,
    )


def enum_name(enum: Any, prefix: str, number: int) -> str:
    try:
        return str(enum.Name(number)).removeprefix(prefix)
    except ValueError:
        return str(number)


#: Fields of the API's messages that hold a price (shown at the instrument's tick).
PRICE_FIELDS = frozenset(
    {
        "limit_price",
        "stop_price",
        "trigger_price",
        "trailing_offset",
        "peg_offset",
        "avg_price",
        "last_price",
    }
)


def at_tick(price: str, tick: str | None) -> str:
    """``price`` with at least the decimals of ``tick`` (190.1 at 0.01: 190.10); a finer
    price (an average) keeps its digits; no tick, or not a number: as given."""
    if not price or not tick:
        return price
    try:
        value, step = Decimal(price), Decimal(tick)
    except InvalidOperation:
        return price
    places = max(-int(step.normalize().as_tuple().exponent), 0)
    exponent = int(value.normalize().as_tuple().exponent)
    return price if -exponent > places else f"{value:.{places}f}"


def human_fields(message: Message, ticks: dict[str, str]) -> dict[str, str]:
    """A message's fields for people: enums without their prefix, prices at the tick."""
    data = as_dict(message)
    tick = ticks.get(str(data.get("symbol", "")))
    shown: dict[str, str] = {}
    for field in message.DESCRIPTOR.fields:
        value = data.get(field.name)
        if field.enum_type is not None and isinstance(value, str):
            prefix = field.enum_type.values[0].name.removesuffix("UNSPECIFIED")
            shown[field.name] = value.removeprefix(prefix)
        elif field.name in PRICE_FIELDS and isinstance(value, str):
            shown[field.name] = at_tick(value, tick)
        elif field.name in data:
            shown[field.name] = str(value)
    return shown


async def load_ticks(client: OmsClient) -> dict[str, str]:
    """Each instrument's tick size, by symbol (empty when they cannot be listed)."""
    try:
        return {i.symbol: i.tick_size for i in await client.list_instruments()}
    except OmsError:
        return {}


def is_nonzero(quantity: str) -> bool:
    """Whether a decimal string from the API is a quantity other than zero."""
    try:
        return bool(quantity) and Decimal(quantity) != 0
    except InvalidOperation:
        return bool(quantity)


def utc_time(when: Any) -> str:
    """A protobuf Timestamp as ISO-8601 UTC to the millisecond ("" when unset)."""
    if not when.seconds and not when.nanos:
        return ""
    stamp: datetime = when.ToDatetime(tzinfo=UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Output:
    """Rich tables for people, JSON for programs (one object; JSON lines when following)."""

    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json
        #: Tick size by symbol, loaded once per run by commands that show prices.
        self.ticks: dict[str, str] = {}
        wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
        self.console = Console(
            file=sys.stdout, highlight=False, width=PIPE_WIDTH_CHARS if wide else None
        )

    def json(self, data: object) -> None:
        print(json.dumps(data), flush=True)

    def quality(self, summary: QualitySummary) -> None:
        data = {
            "orders": summary.orders,
            "filled_quantity": str(summary.filled_quantity),
            "improvement_vs_best_single_venue_bps": str(summary.improvement_bps),
            "slippage_vs_arrival_bps": str(summary.arrival_slippage_bps),
            "better": summary.better,
            "same": summary.same,
            "worse": summary.worse,
        }
        if self.as_json:
            return self.json(data)
        table = Table(
            "measure", "value", title="execution quality (quantity-weighted, net of fees)"
        )
        for key, value in data.items():
            table.add_row(key, str(value))
        self.console.print(table)

    def order(self, order: order_pb2.Order) -> None:
        if self.as_json:
            return self.json(as_dict(order))
        table = Table("field", "value", title=f"order {order.order_id}", show_header=False)
        for key, value in human_fields(order, self.ticks).items():
            table.add_row(key, value)
        self.console.print(table)

    def orders(self, orders: list[order_pb2.Order], *, next_page_token: str) -> None:
        if self.as_json:
            orders_data = [as_dict(o) for o in orders]
            return self.json({"orders": orders_data, "next_page_token": next_page_token})
        table = Table(
            "order_id", "client_order_id", "symbol", "side", "type", "qty", "limit", "state",
            "cum", "avg", title=f"{len(orders)} orders",
        )  # fmt: skip
        for o in orders:
            tick = self.ticks.get(o.symbol)
            table.add_row(
                o.order_id, o.client_order_id, o.symbol,
                enum_name(common_pb2.Side, "SIDE_", o.side),
                enum_name(common_pb2.OrderType, "ORDER_TYPE_", o.order_type),
                o.quantity, at_tick(o.limit_price, tick),
                enum_name(common_pb2.OrderState, "ORDER_STATE_", o.state), o.cum_qty,
                at_tick(o.avg_price, tick),
            )  # fmt: skip
        self.console.print(table)
        if next_page_token:
            self.console.print(f"more: --page-token {next_page_token}")

    def events(self, events: list[order_pb2.ExecutionReport]) -> None:
        if self.as_json:
            return self.json({"events": [as_dict(e) for e in events]})
        table = Table(
            "seq", "exec_type", "state", "last", "venue", "cum", "leaves", "avg", "text",
            title=f"{len(events)} events",
        )  # fmt: skip
        for e in events:
            tick = self.ticks.get(e.symbol)
            table.add_row(
                str(e.sequence), enum_name(common_pb2.ExecType, "EXEC_TYPE_", e.exec_type),
                enum_name(common_pb2.OrderState, "ORDER_STATE_", e.order_state),
                f"{e.last_qty}@{at_tick(e.last_price, tick)}", e.last_venue, e.cum_qty,
                e.leaves_qty, at_tick(e.avg_price, tick), e.text,
            )  # fmt: skip
        self.console.print(table)

    def executions(self, fills: list[order_pb2.Execution], *, next_page_token: str) -> None:
        if self.as_json:
            fills_data = [as_dict(f) for f in fills]
            return self.json({"executions": fills_data, "next_page_token": next_page_token})
        # exec_id is "<order_id>.<n>": it names the order too (--json has every field)
        table = Table(
            "time (UTC)", "exec_id", "symbol", "side", "qty", "price", "venue", "fee",
            "liquidity", "venue exec id", title=f"{len(fills)} fills, newest first",
        )  # fmt: skip
        for f in fills:
            table.add_row(
                f.transact_time.ToDatetime().strftime("%H:%M:%S.%f")[:-3], f.exec_id,
                f.symbol, enum_name(common_pb2.Side, "SIDE_", f.side), f.last_qty,
                at_tick(f.last_price, self.ticks.get(f.symbol)), f.venue, f.fee,
                enum_name(common_pb2.Liquidity, "LIQUIDITY_", f.liquidity), f.venue_exec_id,
            )  # fmt: skip
        self.console.print(table)
        if next_page_token:
            self.console.print(f"more: --page-token {next_page_token}")

    def report(self, r: order_pb2.ExecutionReport) -> None:
        if self.as_json:
            return self.json(as_dict(r))
        exec_type = enum_name(common_pb2.ExecType, "EXEC_TYPE_", r.exec_type)
        state = enum_name(common_pb2.OrderState, "ORDER_STATE_", r.order_state)
        side = enum_name(common_pb2.Side, "SIDE_", r.side)
        venue = f" {r.last_venue}" if r.last_venue else ""
        text = f"  {r.text}" if r.text else ""
        tick = self.ticks.get(r.symbol)
        filled = is_nonzero(r.last_qty)
        last = f" last {r.last_qty}@{at_tick(r.last_price, tick)}{venue}" if filled else ""
        avg = at_tick(r.avg_price, tick) if is_nonzero(r.cum_qty) else "-"
        when = utc_time(r.transact_time) or "-"
        self.console.print(
            f"{when} #{r.sequence} {r.order_id} {r.symbol} {side} exec={exec_type} "
            f"state={state}{last} cum {r.cum_qty} leaves {r.leaves_qty} avg {avg}{text}",
            markup=False,
        )

    def quotes(self, quotes: list[Any]) -> None:
        if self.as_json:
            return self.json({"quotes": [as_dict(q) for q in quotes]})
        table = Table("symbol", "venue", "bid size", "bid", "ask", "ask size", title="quotes")
        for q in quotes:
            table.add_row(
                q.symbol, "CONSOLIDATED", q.bid_size, q.bid_price, q.ask_price, q.ask_size,
                style="bold",
            )  # fmt: skip
            for v in q.venues:
                table.add_row("", v.venue, v.bid_size, v.bid_price, v.ask_price, v.ask_size)
        self.console.print(table)
        for q in quotes:
            for e in q.excluded_venues:
                self.console.print(f"{q.symbol}: {e.venue} left out: {e.reason}", markup=False)

    def quote_line(self, q: Any) -> None:
        if self.as_json:
            return self.json(as_dict(q))
        left_out = "".join(f"  ({e.venue} left out: {e.reason})" for e in q.excluded_venues)
        self.console.print(
            f"{q.symbol} {q.bid_size} x {q.bid_price or '-'} / {q.ask_price or '-'} x {q.ask_size}"
            f"{left_out}",
            markup=False,
        )

    def instruments(self, instruments: list[Any]) -> None:
        if self.as_json:
            return self.json({"instruments": [as_dict(i) for i in instruments]})
        table = Table("symbol", "tick size", "lot size", "reference price", title="instruments")
        for i in instruments:
            table.add_row(i.symbol, i.tick_size, i.lot_size, i.reference_price)
        self.console.print(table)

    def account(self, account: account_service_pb2.Account) -> None:
        if self.as_json:
            return self.json(as_dict(account))
        table = Table(show_header=False, title=f"account {account.account_id}")
        for key in ("cash", "reserved_cash", "active"):
            table.add_row(key, str(getattr(account, key)))
        halted = f"yes: {account.halt_reason}" if account.halted else "no"
        table.add_row("halted", halted, style="bold red" if account.halted else None)
        for key, value in as_dict(account.risk_limits).items():
            table.add_row(f"limit {key}", str(value))
        self.console.print(table)
        positions = Table(
            "symbol", "quantity", "average cost", "realized P&L", "unrealized P&L",
            title="positions (P&L net of fees; unrealized at the consolidated mid)",
        )  # fmt: skip
        for p in account.positions:
            unrealized = p.unrealized_pnl or "no mid"
            positions.add_row(p.symbol, p.quantity, p.average_cost, p.realized_pnl, unrealized)
        self.console.print(positions)

    def venues(self, venues: list[Any]) -> None:
        if self.as_json:
            return self.json({"venues": [as_dict(v) for v in venues]})
        table = Table(
            "venue", "circuit", "failures", "taker bps", "maker bps", "working", title="venues"
        )
        for v in venues:
            circuit = enum_name(admin_service_pb2.CircuitState, "CIRCUIT_STATE_", v.circuit_state)
            table.add_row(
                v.name, circuit, str(v.consecutive_failures), v.taker_fee_bps,
                v.maker_rebate_bps, str(v.working_orders),
            )  # fmt: skip
        self.console.print(table)

    def shards(self, shards: list[Any]) -> None:
        if self.as_json:
            return self.json({"shards": [as_dict(s) for s in shards]})
        table = Table("shard", "state", "owner pid", "standby pid", "accounts", title="shards")
        for s in shards:
            state = enum_name(admin_service_pb2.ShardState, "SHARD_STATE_", s.state)
            table.add_row(
                str(s.shard_id), state, str(s.owner_pid), str(s.standby_pid), str(s.account_count)
            )
        self.console.print(table)

    def done(self, data: dict[str, object], text: str) -> None:
        if self.as_json:
            return self.json(data)
        self.console.print(text, markup=False)

    def refusal(self, error: OmsError) -> None:
        """The server's refusal on stderr: status, reason, message, field violations."""
        if self.as_json:
            data = {
                "code": error.code.name,
                "reason": error.reason,
                "message": error.message,
                "field_violations": [
                    {"field": f, "description": d} for f, d in error.field_violations
                ],
            }
            print(json.dumps({"error": data}), file=sys.stderr)
            return
        reason = f" ({error.reason})" if error.reason else ""
        lines = [f"omsctl: error: {error.code.name}{reason}: {error.message}"]
        lines += [f"  field {field}: {desc}" for field, desc in error.field_violations]
        print("\n".join(lines), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
