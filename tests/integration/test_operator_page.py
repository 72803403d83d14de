"""The operator page in a real browser (Playwright driving Debian's Chromium).

Sign in, watch an order submitted over gRPC appear and fill without a reload, lose the
event stream and see the fill made meanwhile once it is back, halt from the page and see
the API refuse orders. Skipped when Chromium is not installed, unless OMS_REQUIRE_BROWSER=1
(CI), where that fails. OMS_SCREENSHOT=<path> saves the page at the end (docs/).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from oms_server.api.auth import issue_token
from oms_server.domain.access import Role
from protos.oms.v1 import common_pb2
from protos.oms.v1 import order_service_pb2 as pb
from protos.venue.v1 import venue_pb2 as v
from tests.support.fixtures import TEST_SECRET, call_metadata, token
from tests.support.market import Market, RoutedOms
from tests.support.orders import limit_buy
from tests.support.reports import all_final

pytestmark = pytest.mark.timeout(90)

CHROMIUM = Path("/usr/lib/chromium/chromium")
REQUIRE_BROWSER = os.environ.get("OMS_REQUIRE_BROWSER") == "1"
#: Milliseconds any one wait in the browser may take.
WAIT_MS = 10_000
ADMIN_TOKEN = token(Role.ADMIN, ())
MD = call_metadata(Role.TRADER, ("ACC1", "ACC2"))
DIRECT = common_pb2.ROUTING_STRATEGY_DIRECT


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    if REQUIRE_BROWSER:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
async def page_oms(market: Market, sqlite_url: str, tmp_path: Path) -> AsyncIterator[RoutedOms]:
    """A routed OMS serving the page on a free port; venue acks may take seconds here."""
    running = RoutedOms(
        sqlite_url, tmp_path / "state", market=market, ack_timeout_s=10.0, web_addr="127.0.0.1:0"
    )
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def browser_page(page_oms: RoutedOms) -> AsyncIterator[object]:
    _require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1440, "height": 860})
            page = await context.new_page()
            page.set_default_timeout(WAIT_MS)
            yield page
        finally:
            await browser.close()


async def _submit(oms: RoutedOms, request: pb.SubmitOrderRequest) -> str:
    return (await oms.orders.SubmitOrder(request, metadata=MD)).order.order_id


async def test_operator_page_live_resumes_after_a_drop_and_halts(
    page_oms: RoutedOms, market: Market, browser_page: object
) -> None:
    from playwright.async_api import Page, expect

    page = browser_page
    assert isinstance(page, Page)
    expect.set_options(timeout=WAIT_MS)
    assert page_oms.app is not None and page_oms.app.web is not None
    site = page_oms.app.web.site

    # A bad or an expired token: refused with the reason, nothing shown.
    await page.goto(page_oms.web_url)
    await page.fill("input[name=token]", "not-a-token")
    await page.click("button[type=submit]")
    await expect(page.locator("#login-error")).to_contain_text("invalid token")
    await expect(page.locator("table#orders")).to_be_hidden()
    expired = issue_token(TEST_SECRET, "old", Role.ADMIN, ttl_s=-10)
    await page.fill("input[name=token]", expired)
    await page.click("button[type=submit]")
    await expect(page.locator("#login-error")).to_contain_text("expired")
    await expect(page.locator("table#orders")).to_be_hidden()

    await page.fill("input[name=token]", ADMIN_TOKEN)
    await page.click("button[type=submit]")
    await expect(page.locator("table#orders")).to_be_visible()
    await expect(page.locator("#feed-status")).to_have_attribute("data-state", "live")
    await expect(
        page.locator("table#venues tr[data-venue=ALPHA] td[data-col=breaker]")
    ).to_have_text("CLOSED")

    # Submitted over gRPC: the row appears, then fills (ALPHA answers 1.5 s late).
    await market.control("ALPHA", v.SimulatorControl(latency_ms=1500))
    first = await _submit(
        page_oms, limit_buy("page-1", limit_price="190.05", routing_strategy=DIRECT, venue="ALPHA")
    )
    row = page.locator(f'table#orders tr[data-order-id="{first}"]')
    await expect(row).to_be_visible()
    assert await row.get_attribute("data-state") != "FILLED"
    await expect(row).to_have_attribute("data-state", "FILLED")
    await expect(row.locator("td[data-col=cum_qty]")).to_have_text("100")
    await expect(row.locator("td[data-col=venues]")).to_have_text("ALPHA")
    await expect(row.locator("td[data-col=avg_price]")).to_have_text("190.0100")
    await expect(page.locator(f'table#fills tr[data-order-id="{first}"]')).to_have_count(1)
    position = page.locator("table#positions tr[data-account=ACC1][data-symbol=AAPL]")
    await expect(position.locator("td[data-col=quantity]")).to_have_text("100")
    await market.control("ALPHA", v.SimulatorControl(latency_ms=0.001))

    # The stream drops and cannot come back for a while; a fill happens meanwhile.
    await page.route("**/api/events*", lambda route: route.abort())
    assert site.drop_feeds() >= 1
    await expect(page.locator("#feed-status")).to_have_attribute("data-state", "reconnecting")
    missed = await _submit(page_oms, limit_buy("page-2", quantity="50", limit_price="190.05"))
    (order,) = await all_final(page_oms, [missed])
    assert order.state == common_pb2.ORDER_STATE_FILLED
    await expect(page.locator(f'table#orders tr[data-order-id="{missed}"]')).to_have_count(0)
    await page.unroute("**/api/events*")
    await expect(page.locator("#feed-status")).to_have_attribute("data-state", "live")
    missed_row = page.locator(f'table#orders tr[data-order-id="{missed}"]')
    await expect(missed_row).to_have_attribute("data-state", "FILLED")
    await expect(missed_row.locator("td[data-col=cum_qty]")).to_have_text("50")
    await expect(page.locator(f'table#fills tr[data-order-id="{missed}"]')).not_to_have_count(0)
    await expect(page.locator(f'table#fills tr[data-order-id="{first}"]')).to_have_count(1)

    resting = await _submit(page_oms, limit_buy("page-3", quantity="200", limit_price="189.50"))
    await expect(page.locator(f'table#orders tr[data-order-id="{resting}"]')).to_have_attribute(
        "data-state", "NEW"
    )
    screenshot = os.environ.get("OMS_SCREENSHOT")
    if screenshot:
        await page.screenshot(path=screenshot)

    # The kill switch asks first; cancel leaves trading on.
    await page.click("button[data-action=halt]")
    await expect(page.locator("#confirm")).to_be_visible()
    await page.click("button[data-action=cancel-confirm]")
    await expect(page.locator("#confirm")).to_be_hidden()
    assert page_oms.app.engine is not None and page_oms.app.engine.halted("ACC1") is None

    await page.click("button[data-action=halt]")
    await page.click("button[data-action=confirm]")
    await expect(page.locator("#notice")).to_contain_text("halted all")
    await expect(page.locator("#halt-state")).to_be_visible()
    await expect(page.locator(f'table#orders tr[data-order-id="{resting}"]')).to_have_attribute(
        "data-state", "CANCELED"
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _submit(page_oms, limit_buy("after-halt"))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "halt" in (refused.value.details() or "").lower()
