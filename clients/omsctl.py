"""omsctl: the operator and trader CLI of the OMS, built on the SDK.

    omsctl submit AAPL buy 100 --limit 190.00 --account ACC1
    omsctl list --account ACC1 --state new --all --json
    omsctl watch --account ACC1 --from-sequence 0        # Ctrl-C exits 0

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
import os
import re
import sys
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar, cast

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table

from clients.quality import QualitySummary, summarize
from clients.sdk import OmsClient, OmsError, TlsOptions
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
ORDER_TYPES = tuple(n.removeprefix("ORDER_TYPE_").lower() for n in common_pb2.OrderType.keys()[1:])
TIFS = ("day", "gtc", "ioc", "fok", "gtd")
#: ``--expire-time +1h30m``: a duration from now in days, hours, minutes and seconds.
DURATION_RE = re.compile(r"\+(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
STRATEGIES = ("best_price", "liquidity", "direct")
STATES = tuple(n.removeprefix("ORDER_STATE_").lower() for n in common_pb2.OrderState.keys()[1:])
#: Commands whose Ctrl-C is the normal way out.
FOLLOWING_COMMANDS = ("watch", "quotes")

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
    if getattr(args, "handler", None) is None:
        parser.print_usage(sys.stderr)
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
        await args.handler(client, args, out)
    return EXIT_OK


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
        type=float,
        default=default(DEFAULT_TIMEOUT_S),
        help="deadline of each call, seconds",
    )
    parser.add_argument("--tls-ca", default=default(None), help="CA bundle file: connect with TLS")


def _order_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    p = command("submit", cmd_submit, "submit an order")
    p.add_argument("symbol")
    p.add_argument("side", type=str.lower, choices=SIDES)
    p.add_argument("quantity")
    p.add_argument("--limit", help="limit price")
    p.add_argument("--stop", help="stop price")
    p.add_argument("--type", type=str.lower, choices=ORDER_TYPES, help="default: from prices")
    p.add_argument("--tif", type=str.lower, choices=TIFS, default="day")
    p.add_argument(
        "--expire-time",
        help="when a gtd order expires: ISO-8601 (UTC unless it has an offset) or +duration "
        "such as +90s, +30m, +1h30m, +2d",
    )
    p.add_argument("--strategy", type=str.lower, choices=STRATEGIES)
    p.add_argument("--venue", default="", help="venue for direct routing")
    p.add_argument("--account")
    p.add_argument("--client-order-id")
    p = command("cancel", cmd_cancel, "cancel an order")
    p.add_argument("order_id")
    p = command("cancel-all", cmd_cancel_all, "mass cancel: every working order of an account")
    p.add_argument("--account")
    p.add_argument("--symbol", default="", help="only this instrument's orders")
    p.add_argument("--side", type=str.lower, choices=SIDES, help="only this side's orders")
    p = command("replace", cmd_replace, "change an order's quantity and/or limit price")
    p.add_argument("order_id")
    p.add_argument("--qty", dest="quantity")
    p.add_argument("--limit")
    p.add_argument("--client-order-id", help="id of the new order (makes retries safe)")
    p = command("get", cmd_get, "show one order")
    p.add_argument("order_id")
    p = command("list", cmd_list, "list an account's orders, newest first")
    p.add_argument("--account")
    p.add_argument("--state", type=str.lower, choices=STATES, action="append", default=[])
    p.add_argument("--symbol", default="")
    p.add_argument("--page-size", type=int, default=0)
    p.add_argument("--page-token", default="")
    p.add_argument("--all", action="store_true", help="every page")
    p = command("events", cmd_events, "the audit trail of one order")
    p.add_argument("order_id")
    p = command("fills", cmd_fills, "an account's fills, newest first")
    p.add_argument("--account")
    p.add_argument("--order", default="", help="only this order's fills")
    p.add_argument("--symbol", default="")
    p.add_argument("--page-size", type=int, default=0)
    p.add_argument("--page-token", default="")
    p.add_argument("--all", action="store_true", help="every page")
    p = command("quality", cmd_quality, "execution quality: router vs best single venue")
    p.add_argument("--account")
    p.add_argument("--symbol", default="")


def _stream_and_market_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    p = command("watch", cmd_watch, "follow execution reports live (resumes after breaks)")
    p.add_argument("--account")
    p.add_argument("--from-sequence", type=int, default=0, help="replay after this sequence")
    p.add_argument("--max-reports", type=int, help="stop after this many reports")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p = command("quotes", cmd_quotes, "consolidated and per-venue best bid and offer")
    p.add_argument("symbols", nargs="+", metavar="SYMBOL")
    p.add_argument("--follow", action="store_true", help="stream quote updates")
    p.add_argument("--max-updates", type=int, help="with --follow: stop after this many")
    command("instruments", cmd_instruments, "list tradable instruments")


def _account_commands(accounts: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    sub = accounts.add_subparsers(dest="account_command", metavar="ACTION", required=True)
    p = sub.add_parser("create", parents=[common], help="open an account")
    p.add_argument("account_id")
    p.set_defaults(handler=cmd_account_create)
    p = sub.add_parser("deposit", parents=[common], help="add cash")
    p.add_argument("account_id")
    p.add_argument("amount")
    p.set_defaults(handler=cmd_account_deposit)
    p = sub.add_parser("show", parents=[common], help="cash, reserved cash, positions, limits")
    p.add_argument("account_id", nargs="?")
    p.set_defaults(handler=cmd_account_show)
    p = sub.add_parser("limits", parents=[common], help="change the risk limits given")
    p.add_argument("account_id")
    p.add_argument("--max-order-quantity")
    p.add_argument("--max-order-notional")
    p.add_argument("--price-collar-bps")
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
    p.add_argument("--max-orders-per-second", type=int)
    p.add_argument("--allow-short", action=argparse.BooleanOptionalAction)
    p.add_argument("--duplicate-window-ms", type=int)
    p.set_defaults(handler=cmd_account_limits)


def _admin_commands(command: Callable[..., argparse.ArgumentParser]) -> None:
    for name, handler, text in (
        ("halt", cmd_halt, "kill switch: cancel working orders and refuse new ones"),
        ("resume", cmd_resume, "allow trading again after halt"),
    ):
        p = command(name, handler, text)
        which = p.add_mutually_exclusive_group(required=True)
        which.add_argument("--account")
        which.add_argument("--all", action="store_true", help="every account")
        if name == "halt":
            p.add_argument("--reason", default="", help="for the audit trail")
    command("venues", cmd_venues, "venue health and circuit-breaker state")
    command("shards", cmd_shards, "who owns each account shard (admin)")


# -- commands ------------------------------------------------------------------------------


async def cmd_submit(client: OmsClient, args: argparse.Namespace, out: Output) -> None:
    order = await client.submit_order(
        account_id=account_of(args),
        symbol=args.symbol,
        side=args.side,
        quantity=args.quantity,
        limit_price=args.limit,
        stop_price=args.stop,
        order_type=args.type,
        time_in_force=args.tif,
        routing_strategy=args.strategy,
        venue=args.venue,
        client_order_id=args.client_order_id,
        expire_time=parse_expire_time(args.expire_time) if args.expire_time else None,
    )
    out.order(order)


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
    reports = client.reports(account_of(args), args.from_sequence)
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


# -- token, account, TLS -------------------------------------------------------------------


def resolve_token(given: str | None) -> str:
    """The token given, else an admin token minted from the local dev secret."""
    if given:
        return given
    secret = _local_secret()
    if secret is None:
        raise UsageError(
            "no token: pass --token, set OMS_TOKEN (see `oms token`), or run where "
            "`oms up` keeps .oms/auth_secret"
        )
    from oms_server.api.auth import issue_token
    from oms_server.domain.access import Role

    return issue_token(secret, "omsctl", Role.ADMIN, ttl_s=MINTED_TOKEN_TTL_S)


def _local_secret() -> str | None:
    if os.environ.get("OMS_AUTH_SECRET"):
        return os.environ["OMS_AUTH_SECRET"]
    path = Path(os.environ.get("OMS_STATE_DIR") or ".oms") / "auth_secret"
    with contextlib.suppress(OSError):
        return path.read_text().strip() or None
    return None


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


class Output:
    """Rich tables for people, JSON for programs (one object; JSON lines when following)."""

    def __init__(self, *, as_json: bool) -> None:
        self.as_json = as_json
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
        for key, value in as_dict(order).items():
            table.add_row(key, str(value))
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
            table.add_row(
                o.order_id, o.client_order_id, o.symbol,
                enum_name(common_pb2.Side, "SIDE_", o.side),
                enum_name(common_pb2.OrderType, "ORDER_TYPE_", o.order_type),
                o.quantity, o.limit_price,
                enum_name(common_pb2.OrderState, "ORDER_STATE_", o.state), o.cum_qty, o.avg_price,
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
            table.add_row(
                str(e.sequence), enum_name(common_pb2.ExecType, "EXEC_TYPE_", e.exec_type),
                enum_name(common_pb2.OrderState, "ORDER_STATE_", e.order_state),
                f"{e.last_qty}@{e.last_price}", e.last_venue, e.cum_qty, e.leaves_qty,
                e.avg_price, e.text,
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
                f.last_price, f.venue, f.fee,
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
        self.console.print(
            f"#{r.sequence} {r.order_id} {r.symbol} {side} {exec_type} -> {state} "
            f"last {r.last_qty}@{r.last_price}{venue} cum {r.cum_qty} leaves {r.leaves_qty} "
            f"avg {r.avg_price}{text}",
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
