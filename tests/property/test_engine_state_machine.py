"""A stateful property test of the order engine (hypothesis RuleBasedStateMachine).

The engine's public command handlers (``OrderCommands``) are driven directly, as its
writer task would, each batch sealed and marked committed, with a scripted venue side.
Rules submit, cancel and replace orders and play venue reports: acks, partial and full
fills, venue cancels, duplicates, reports delivered out of order, and reconciliation
of a child its venue never saw. After every step:

- cum_qty never decreases and never exceeds quantity; leaves = quantity - cum_qty;
- a terminal state stays terminal;
- reserved cash equals the worst-case cost of the open buy quantity;
- the fills of a parent's children add up to the parent's cum_qty;
- each child's cum_qty is the sum of the distinct fills the venue delivered (a
  duplicate or a late report never counts twice, and no fill is lost).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Mapping
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from oms_server.domain.access import SYSTEM
from oms_server.domain.accounts import buy_reservation
from oms_server.domain.child import ChildOrder, ChildState, VenueExecType, VenueReport
from oms_server.domain.decimals import ZERO
from oms_server.domain.enums import OrderType, RoutingStrategy, Side, TimeInForce
from oms_server.domain.errors import OmsError
from oms_server.domain.instruments import Instrument
from oms_server.domain.order import OrderRequest
from oms_server.engine.commands import OrderCommands
from oms_server.engine.hub import ReportHub
from router.book import Level, VenueBook, VenueInfo

AAPL = Instrument("AAPL", Decimal("0.01"), Decimal("1"), Decimal("100.00"))
VENUES = ("V1", "V2")
FEE_BPS = Decimal("2")


class ScriptedVenues:
    """Books that never move; records what the engine sends."""

    def __init__(self) -> None:
        self.sent: list[ChildOrder] = []
        self.cancels: list[str] = []

    #: The books move nothing, but they are market data: mids are the reference.
    publishes_books = True

    def books(self, symbol: str) -> Mapping[str, VenueBook]:
        asks = (Level(Decimal("100.01"), Decimal(300)), Level(Decimal("100.02"), Decimal(500)))
        bids = (Level(Decimal("99.99"), Decimal(300)), Level(Decimal("99.98"), Decimal(500)))
        return {v: VenueBook(v, symbol, bids, asks) for v in VENUES}

    def venue_infos(self) -> Mapping[str, VenueInfo]:
        return {v: VenueInfo(v, FEE_BPS, Decimal(1), 0.1, True) for v in VENUES}

    def send_new(self, child: ChildOrder) -> None:
        self.sent.append(child)

    def send_cancel(self, child: ChildOrder) -> None:
        self.cancels.append(child.child_order_id)


class EngineMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.venues = ScriptedVenues()
        self.engine = OrderCommands({"AAPL": AAPL}, ReportHub(), venues=self.venues)
        self.engine.create_account("A")
        self.engine.deposit("A", Decimal("1000000"))
        self.engine.accounts.get("A").position("AAPL").quantity = Decimal(100000)
        self.exec_ids = itertools.count(1)
        self.delivered: list[VenueReport] = []
        self.held_back: list[VenueReport] = []
        self.order_ids: list[str] = []
        self.last_cum: dict[str, Decimal] = {}
        self.terminal: set[str] = set()
        self.fills_seen: set[str] = set()
        self.venue_filled: dict[str, Decimal] = {}
        self.settle()

    # -- the writer task's part ---------------------------------------------------------

    def settle(self) -> None:
        """What the writer does after a batch: seal it and, once committed, publish
        its reports and send its venue messages."""
        self.engine.committed(self.engine.seal())

    def command(self, action: object) -> None:
        with contextlib.suppress(OmsError):
            action()  # type: ignore[operator]
        self.settle()
        known = self.engine.live.known_ids()
        self.order_ids.extend(i for i in known if i not in self.order_ids)

    def venue(self, *reports: VenueReport) -> None:
        for report in reports:
            if report.exec_type is VenueExecType.TRADE and report.exec_id not in self.fills_seen:
                self.fills_seen.add(report.exec_id)
                child_id = report.child_order_id
                self.venue_filled[child_id] = (
                    self.venue_filled.get(child_id, ZERO) + report.last_qty
                )
        self.delivered.extend(reports)
        self.command(lambda: self.engine.apply_venue_reports(list(reports)))

    # -- clients ------------------------------------------------------------------------

    @rule(
        side=st.sampled_from([Side.BUY, Side.SELL]),
        quantity=st.integers(1, 900),
        ticks=st.integers(-3, 3),
        tif=st.sampled_from([TimeInForce.DAY, TimeInForce.IOC, TimeInForce.GTC]),
        strategy=st.sampled_from(list(RoutingStrategy)),
    )
    def submit(
        self, side: Side, quantity: int, ticks: int, tif: TimeInForce, strategy: RoutingStrategy
    ) -> None:
        price = (
            Decimal("100.01") if side is Side.BUY else Decimal("99.99")
        ) + ticks * AAPL.tick_size
        request = OrderRequest(
            account_id="A",
            client_order_id=f"c{len(self.order_ids)}",
            symbol="AAPL",
            side=side,
            order_type=OrderType.LIMIT,
            time_in_force=tif,
            quantity=Decimal(quantity),
            limit_price=price,
            stop_price=None,
            routing_strategy=strategy,
            venue="V1" if strategy is RoutingStrategy.DIRECT else "",
        )

        self.command(lambda: self.engine.submit(request, SYSTEM))

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        order_id = data.draw(st.sampled_from(self.order_ids))
        self.command(lambda: self.engine.cancel(order_id, SYSTEM))

    @precondition(lambda self: self.order_ids)
    @rule(data=st.data(), quantity=st.integers(1, 1200))
    def replace(self, data: st.DataObject, quantity: int) -> None:
        order_id = data.draw(st.sampled_from(self.order_ids))

        def replace() -> None:
            self.engine.replace(order_id, SYSTEM, Decimal(quantity), None, "")

        self.command(replace)

    # -- venues -------------------------------------------------------------------------

    def open_children(self) -> list[ChildOrder]:
        return [c for c in self.engine.routing.children.values() if not c.venue_done]

    @precondition(lambda self: self.open_children())
    @rule(data=st.data())
    def acknowledge(self, data: st.DataObject) -> None:
        child = data.draw(st.sampled_from(self.open_children()))
        state = ChildState.NEW if child.cum_qty == 0 else ChildState.PARTIALLY_FILLED
        self.venue(self.report(child, VenueExecType.NEW, state))

    @precondition(lambda self: self.open_children())
    @rule(data=st.data(), share=st.fractions(0, 1), hold_back=st.booleans())
    def fill(self, data: st.DataObject, share: object, hold_back: bool) -> None:
        child = data.draw(st.sampled_from(self.open_children()))
        venue_cum = max(child.venue_cum_qty, child.cum_qty) + sum(
            r.last_qty for r in self.held_back if r.child_order_id == child.child_order_id
        )
        left = child.quantity - venue_cum
        qty = max(
            Decimal(1), (left * Decimal(share.numerator) / share.denominator).to_integral_value()
        )  # type: ignore[attr-defined]
        if left <= 0:
            return
        qty = min(qty, left)
        cum = venue_cum + qty
        state = ChildState.FILLED if cum == child.quantity else ChildState.PARTIALLY_FILLED
        report = self.report(child, VenueExecType.TRADE, state, qty=qty, cum=cum)
        if hold_back:
            self.held_back.append(report)  # delivered later: out of order
        else:
            self.venue(report)

    @precondition(lambda self: self.open_children())
    @rule(data=st.data())
    def venue_cancels_rest(self, data: st.DataObject) -> None:
        child = data.draw(st.sampled_from(self.open_children()))
        late = sum(r.last_qty for r in self.held_back if r.child_order_id == child.child_order_id)
        cum = max(child.venue_cum_qty, child.cum_qty) + late
        if cum >= child.quantity:
            return
        self.venue(self.report(child, VenueExecType.CANCELED, ChildState.CANCELED, cum=cum))

    def unheard_of(self) -> list[ChildOrder]:
        """Children the venue has said nothing about, and holds no report of."""
        held = {r.child_order_id for r in self.held_back}
        return [
            c
            for c in self.open_children()
            if c.state is ChildState.PENDING_NEW and c.child_order_id not in held
        ]

    @precondition(lambda self: self.unheard_of())
    @rule(data=st.data())
    def venue_never_saw_it(self, data: st.DataObject) -> None:
        """What reconciliation does once resends of a child got no acknowledgement."""
        child = data.draw(st.sampled_from(self.unheard_of()))
        for _ in range(self.engine.policy.max_resends + 1):  # resent, then given up
            self.command(lambda: self.engine.reconcile(child.venue, {child.child_order_id: None}))

    @precondition(lambda self: self.held_back)
    @rule()
    def deliver_late_reports(self) -> None:
        late, self.held_back = list(reversed(self.held_back)), []
        self.venue(*late)

    @precondition(lambda self: self.delivered)
    @rule(data=st.data())
    def duplicate(self, data: st.DataObject) -> None:
        self.venue(data.draw(st.sampled_from(self.delivered)))

    def report(
        self,
        child: ChildOrder,
        exec_type: VenueExecType,
        state: ChildState,
        *,
        qty: Decimal = ZERO,
        cum: Decimal | None = None,
    ) -> VenueReport:
        cum = child.cum_qty if cum is None else cum
        return VenueReport(
            venue=child.venue,
            exec_id=f"x{next(self.exec_ids)}",
            child_order_id=child.child_order_id,
            exec_type=exec_type,
            status=state,
            last_qty=qty,
            last_price=child.limit_price or Decimal("100.00") if qty else ZERO,
            cum_qty=cum,
            leaves_qty=child.quantity - cum,
            fee=ZERO,
        )

    # -- invariants ---------------------------------------------------------------------

    @invariant()
    def quantities_add_up(self) -> None:
        for order_id in self.order_ids:
            order = self.engine.live.snapshot(order_id)
            assert order is not None
            assert ZERO <= order.cum_qty <= order.quantity
            assert order.cum_qty >= self.last_cum.get(order_id, ZERO)
            self.last_cum[order_id] = order.cum_qty
            if order.is_terminal:
                assert order.leaves_qty == ZERO
            else:
                assert order.leaves_qty == order.quantity - order.cum_qty
                assert order_id not in self.terminal, f"{order_id} left a terminal state"
            if order.is_terminal:
                self.terminal.add(order_id)

    @invariant()
    def each_distinct_venue_fill_counts_once(self) -> None:
        for child in self.engine.routing.children.values():
            assert child.cum_qty == self.venue_filled.get(child.child_order_id, ZERO)

    @invariant()
    def reconciliation_asks_about_exactly_the_children_waiting_on_a_venue(self) -> None:
        waiting = {
            c.child_order_id
            for c in self.engine.routing.children.values()
            if not c.is_done
            and (c.state is ChildState.PENDING_NEW or c.cancel_requested or c.venue_done)
        }
        everything_is_old = 2**63
        asked = {c.child_order_id for c in self.engine.routing.stale_children(everything_is_old)}
        assert asked == waiting

    @invariant()
    def reservations_equal_open_worst_case(self) -> None:
        account = self.engine.accounts.get("A")
        expected = ZERO
        for order in list(self.engine.live):
            if order.side is Side.BUY and order.reserve_price is not None:
                expected += buy_reservation(order.open_qty, order.reserve_price, FEE_BPS).cash
        assert account.reserved_cash == expected

    @invariant()
    def children_fills_add_up_to_parent(self) -> None:
        by_parent: dict[str, Decimal] = {}
        for child in self.engine.routing.children.values():
            by_parent[child.parent_order_id] = (
                by_parent.get(child.parent_order_id, ZERO) + child.cum_qty
            )
        for parent_id, filled in by_parent.items():
            parent = self.engine.live.snapshot(parent_id)
            if parent is not None and not parent.replaces_order_id:
                assert parent.cum_qty == filled


TestEngineStateMachine = EngineMachine.TestCase
TestEngineStateMachine.settings = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
