"""The README's picture of the operator page: docs/operator-page.png.

Runs the whole stack in this process (embedded NATS, the bundled scenario's venues, the
OMS with its page on a free port, a throw-away store), trades a little on two accounts
through the gRPC API, signs in as an admin in Debian's Chromium and saves the page.

    .venv/bin/python scripts/operator_screenshot.py [docs/operator-page.png]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

from clients.sdk.client import OmsClient
from oms_server.api.auth import issue_token
from oms_server.config import Settings
from oms_server.domain.access import Role
from oms_server.stack import Stack

CHROMIUM = "/usr/lib/chromium/chromium"
WAIT_MS = 15_000
SECRET = "screenshot-secret-not-for-anything-else"
#: (account, symbol, side, quantity, limit price as a fraction of the reference price)
ORDERS = [
    ("DEMO", "AAPL", "buy", 1500, Decimal("1.01")),
    ("DEMO", "MSFT", "buy", 400, Decimal("1.01")),
    ("DEMO", "AAPL", "sell", 600, Decimal("0.99")),
    ("DESK2", "TSLA", "buy", 800, Decimal("1.01")),
    ("DESK2", "SPY", "buy", 300, Decimal("1.01")),
    ("DESK2", "TSLA", "sell", 300, Decimal("0.99")),
    ("DEMO", "SPY", "buy", 1000, Decimal("0.98")),
    ("DESK2", "MSFT", "buy", 250, Decimal("0.97")),
]


async def take(path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    os.environ["OMS_FIX_ADDR"] = "off"
    with tempfile.TemporaryDirectory() as state:
        settings = Settings(
            grpc_addr="127.0.0.1:0",
            db_url=f"sqlite+aiosqlite:///{state}/oms.db",
            auth_secret=SECRET,
            state_dir=Path(state),
            web_addr="127.0.0.1:0",
        )
        stack = Stack(settings)
        await stack.start()
        try:
            assert stack.app is not None and stack.app.web is not None
            admin = issue_token(SECRET, "operator", Role.ADMIN)
            async with OmsClient(stack.app.address, admin) as client:
                await client.create_account("DESK2")
                await client.deposit("DESK2", "5000000")
                await asyncio.sleep(1.0)  # the venues' first books reach the OMS
                for account, symbol, side, quantity, factor in ORDERS:
                    reference = stack.app.instruments[symbol].reference_price
                    price = (reference * factor).quantize(Decimal("0.01"))
                    await client.submit_order(
                        account_id=account,
                        symbol=symbol,
                        side=side,
                        quantity=quantity,
                        limit_price=price,
                    )
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM)
                page = await browser.new_page(viewport={"width": 1440, "height": 720})
                await page.goto(stack.app.web.url)
                await page.fill("input[name=token]", admin)
                await page.click("button[type=submit]")
                await expect(page.locator("table#orders tbody tr")).to_have_count(
                    len(ORDERS), timeout=WAIT_MS
                )
                await expect(page.locator("table#venues tbody tr")).to_have_count(
                    3, timeout=WAIT_MS
                )
                await page.wait_for_timeout(1500)  # one more snapshot: marks and quote ages
                await page.screenshot(path=str(path))
                await browser.close()
        finally:
            await stack.stop()
    print(f"saved {path}")


def main() -> int:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/operator-page.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    asyncio.run(take(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
