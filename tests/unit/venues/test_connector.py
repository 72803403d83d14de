"""VenueConnector without a broker: venue infos are one object until routability changes;
books carry their times and leave quotes and routing when too old."""

from __future__ import annotations

from decimal import Decimal

from router.book import Level, VenueBook
from router.circuit_breaker import BreakerState
from router.freshness import NS_PER_S, QuoteFreshness
from venues.connector import VenueConnector
from venues.scenario import VenueConfig
from venues.sim.faults import FaultConfig


class StubNats:
    """Enough of a NATS client to build a connector; nothing here touches the network."""

    def jetstream(self) -> object:
        return object()


def venue(name: str, fee: str, latency_ms: float) -> VenueConfig:
    return VenueConfig(name, Decimal(fee), Decimal("0.1"), latency_ms, FaultConfig(), ())


def connector() -> VenueConnector:
    venues = [venue("ALPHA", "0.3", 1.0), venue("BRAVO", "0.2", 2.0)]
    return VenueConnector(StubNats(), venues, breaker_cool_down_s=0.0)  # type: ignore[arg-type]


def test_venue_infos_carry_the_configs_and_stay_one_object() -> None:
    conn = connector()
    infos = conn.venue_infos()
    assert list(infos) == ["ALPHA", "BRAVO"]
    alpha = infos["ALPHA"]
    assert (alpha.taker_fee_bps, alpha.maker_rebate_bps, alpha.latency_ms, alpha.healthy) == (
        Decimal("0.3"),
        Decimal("0.1"),
        1.0,
        True,
    )
    assert conn.venue_infos() is infos
    conn.breaker("ALPHA").record_success(0.0)  # no change of routability: same object
    assert conn.venue_infos() is infos


def test_venue_infos_follow_the_breaker_however_it_is_changed() -> None:
    conn = connector()
    before = conn.venue_infos()
    breaker = conn.breaker("BRAVO")
    for _ in range(breaker.failure_threshold):
        breaker.record_failure(1.0)
    assert breaker.state is BreakerState.OPEN
    opened = conn.venue_infos()
    assert opened is not before
    assert (opened["ALPHA"].healthy, opened["BRAVO"].healthy) == (True, False)
    assert before["BRAVO"].healthy  # an earlier mapping never changes

    assert breaker.allows_probe(2.0)  # HALF_OPEN: still out of routing
    assert conn.venue_infos() is opened
    breaker.record_success(2.1)
    closed = conn.venue_infos()
    assert closed is not opened and closed["BRAVO"].healthy
    assert closed == before


# -- honest market data: books with their times, left out when too old ------------------

MAX_AGE_S = 1.0
START_NS = 1_000 * NS_PER_S


class ManualClock:
    """Unix nanoseconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now_ns = START_NS

    def __call__(self) -> int:
        return self.now_ns

    def advance(self, seconds: float) -> None:
        self.now_ns += round(seconds * NS_PER_S)


def book(venue: str, symbol: str = "AAPL", bid: str = "189.99") -> VenueBook:
    return VenueBook(venue, symbol, bids=(Level(Decimal(bid), Decimal("100")),))


def timed_connector() -> tuple[VenueConnector, ManualClock, list[VenueBook]]:
    """A connector with a manual clock, both venues' AAPL books fresh, and what its book
    listeners were told (emptied)."""
    clock = ManualClock()
    venues = [venue("ALPHA", "0.3", 1.0), venue("BRAVO", "0.2", 2.0)]
    conn = VenueConnector(
        StubNats(),  # type: ignore[arg-type]
        venues,
        freshness=QuoteFreshness.of_seconds(MAX_AGE_S),
        clock_ns=clock,
    )
    told: list[VenueBook] = []
    conn.add_book_listener(told.append)
    for name in ("ALPHA", "BRAVO"):
        conn.store_book(book(name), clock.now_ns)
    return conn, clock, told


def test_a_book_that_grows_too_old_leaves_routing_and_its_venue_too() -> None:
    conn, clock, told = timed_connector()
    infos = conn.venue_infos()
    clock.advance(0.6)
    conn.store_book(book("BRAVO"), clock.now_ns)  # BRAVO publishes, ALPHA fell silent
    clock.advance(0.5)
    conn.check_freshness()

    assert list(conn.books("AAPL")) == ["BRAVO"]
    stale = conn.venue_infos()
    assert stale is not infos and (stale["ALPHA"].healthy, stale["BRAVO"].healthy) == (False, True)
    assert [b.venue for b in told] == ["ALPHA"]  # the quote stream hears of it once
    conn.check_freshness()
    assert conn.venue_infos() is stale and len(told) == 1


def test_a_fresh_book_brings_the_venue_back() -> None:
    conn, clock, _ = timed_connector()
    clock.advance(MAX_AGE_S + 0.1)
    conn.check_freshness()
    out = conn.venue_infos()
    assert not out["ALPHA"].healthy and conn.books("AAPL") == {}

    conn.store_book(book("ALPHA"), clock.now_ns)
    back = conn.venue_infos()
    assert back is not out and back["ALPHA"].healthy and not back["BRAVO"].healthy
    assert list(conn.books("AAPL")) == ["ALPHA"]


def test_heartbeats_keep_the_same_objects_so_routing_caches_hold() -> None:
    conn, clock, _ = timed_connector()
    infos, alpha = conn.venue_infos(), conn.books("AAPL")["ALPHA"]
    for _ in range(5):
        clock.advance(0.5)
        conn.store_book(alpha, clock.now_ns)  # the decoder hands back the very same book
        conn.store_book(book("BRAVO"), clock.now_ns)
        conn.check_freshness()
    assert conn.venue_infos() is infos and conn.books("AAPL")["ALPHA"] is alpha


def test_one_symbol_going_quiet_leaves_out_that_book_only() -> None:
    conn, clock, _ = timed_connector()
    conn.store_book(book("ALPHA", "MSFT"), clock.now_ns)
    clock.advance(0.8)
    conn.store_book(book("ALPHA"), clock.now_ns)
    conn.store_book(book("BRAVO"), clock.now_ns)
    clock.advance(0.3)
    conn.check_freshness()
    assert conn.books("MSFT") == {} and sorted(conn.books("AAPL")) == ["ALPHA", "BRAVO"]
    assert conn.venue_infos()["ALPHA"].healthy  # the venue itself is alive


def test_a_book_that_arrives_already_too_old_is_not_used() -> None:
    conn, clock, _ = timed_connector()
    conn.store_book(book("ALPHA", "MSFT"), clock.now_ns - 2 * NS_PER_S)
    assert conn.books("MSFT") == {}
    assert [e.venue for e in conn.quote_sources("MSFT").excluded] == ["ALPHA"]


def test_quote_sources_carry_each_venue_time_and_say_who_is_left_out_and_why() -> None:
    conn, clock, _ = timed_connector()
    published_ns = clock.now_ns
    conn.store_book(book("GHOST"), clock.now_ns)  # a venue the OMS does not route to
    clock.advance(0.5)
    conn.store_book(book("BRAVO", bid="190.00"), clock.now_ns)
    clock.advance(0.9)  # no check ran: GetQuote decides by itself, at read time

    sources = conn.quote_sources("AAPL")
    assert [(p.book.venue, p.published_ns) for p in sources.used] == [
        ("BRAVO", published_ns + NS_PER_S // 2)
    ]
    assert [(e.venue, e.reason) for e in sources.excluded] == [
        ("ALPHA", "book is 1.4 s old (max 1.0 s)"),
        ("GHOST", "not a configured venue"),
    ]
    best = sources.consolidated().best_bid
    assert best is not None and best.price == Decimal("190.00")


def test_an_open_breaker_is_the_reason_even_with_a_fresh_book() -> None:
    conn, _, told = timed_connector()
    breaker = conn.breaker("BRAVO")
    for at in (1.0, 1.1, 1.2):
        breaker.record_failure(at, "a status request got no answer within 1 s")
    conn.check_freshness()
    assert [b.venue for b in told] == ["BRAVO"]  # quote streams hear of the breaker too
    excluded = conn.quote_sources("AAPL").excluded
    assert [(e.venue, e.reason) for e in excluded] == [
        (
            "BRAVO",
            "circuit breaker open: 3 failures in a row, the last: a status request got no "
            "answer within 1 s",
        )
    ]
    assert [p.book.venue for p in conn.quote_sources("AAPL").used] == ["ALPHA"]
