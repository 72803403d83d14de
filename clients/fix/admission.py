"""Who may log on: the bearer token in Password (554), vouched for by the OMS.

The gateway holds no secret. It asks the OMS (an authenticated call any role may make);
once the OMS has accepted the token, its claims (role, accounts, expiry) are read as
they stand. Every later call carries the same token, so the OMS enforces the role and
accounts on each message whatever the gateway believes.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Final

import jwt

from clients.sdk import OmsClient, OmsError, ReconnectPolicy, TlsOptions, Unauthenticated

#: The CompIDs a client may log on with (they name files and settings).
COMP_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: A SenderCompID starting with this opens a read-only drop copy (admin tokens only).
DROP_COPY_PREFIX: Final = "DROP"
ADMIN_ROLE: Final = "admin"
#: How long the OMS gets to vouch for a token.
VERIFY_TIMEOUT_S: Final = 5.0
#: A session follows its report streams for as long as it is logged on.
FOLLOW_FOREVER: Final = ReconnectPolicy(max_attempts=None)


class Refused(Exception):
    """A logon the gateway refuses; ``text`` goes to the client in Logout (5)."""

    def __init__(self, text: str) -> None:
        super().__init__(f"fix-logon: {text}")
        self.text = text


@dataclass(frozen=True, slots=True)
class Principal:
    """What a token says about its holder (once the OMS accepted it)."""

    subject: str
    role: str
    accounts: tuple[str, ...]
    expires_at_s: float

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN_ROLE


@dataclass(frozen=True, slots=True)
class Grant:
    """A verified logon waiting for (or holding) its QuickFIX session."""

    token: str
    principal: Principal
    client: OmsClient
    drop_copy: bool


def is_drop_copy(comp_id: str) -> bool:
    return comp_id.upper().startswith(DROP_COPY_PREFIX)


def check_comp_ids(sender: str, target: str, expected_target: str) -> None:
    if target != expected_target:
        raise Refused(f"TargetCompID (56) must be {expected_target}")
    if not COMP_ID_PATTERN.fullmatch(sender):
        raise Refused("SenderCompID (49) must be 1-64 letters, digits, '_', '.' or '-'")


def claims_of(token: str) -> Principal:
    """The token's claims, read without verifying (the OMS verifies); Refused if it is
    no token at all or has expired."""
    if not token:
        raise Refused("Password (554) must be a bearer token (oms token)")
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise Refused("Password (554) is not a bearer token") from None
    accounts = claims.get("accounts") or []
    if not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
        raise Refused("the token's accounts claim is not a list of account ids")
    expires_at_s = float(claims.get("exp") or 0)
    if expires_at_s and expires_at_s <= time.time():
        raise Refused("the token has expired")
    return Principal(
        subject=str(claims.get("sub", "")),
        role=str(claims.get("role", "")),
        accounts=tuple(accounts),
        expires_at_s=expires_at_s,
    )


async def verify(
    sender: str, token: str, target: str, tls: TlsOptions | None
) -> tuple[Principal, OmsClient]:
    """The token's principal and a client of the OMS that carries it; Refused if the OMS
    does not accept it or the session may not be opened with it."""
    principal = claims_of(token)
    drop_copy = is_drop_copy(sender)
    if drop_copy and not principal.is_admin:
        raise Refused(f"a drop copy ({DROP_COPY_PREFIX}*) session needs an admin token")
    if drop_copy and not principal.accounts:
        raise Refused(
            "a drop copy follows the accounts its admin token names "
            "(oms token --role admin --account A --account B); this token names none"
        )
    client = OmsClient(target, token, tls=tls, reconnect=FOLLOW_FOREVER)
    try:
        await client.list_instruments(timeout_s=VERIFY_TIMEOUT_S)
    except Unauthenticated as error:
        await client.close()
        raise Refused(f"the OMS refused the token: {error.message}") from None
    except OmsError as error:
        await client.close()
        raise Refused(f"the OMS cannot vouch for the token now: {error}") from None
    return principal, client
