"""Who is asking: the authenticated principal and what it may act for."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    TRADER = "trader"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: admins act for every account, traders for their own."""

    subject: str
    role: Role
    accounts: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def can_act_for(self, account_id: str) -> bool:
        return self.is_admin or account_id in self.accounts


#: The principal of work the system does on its own (reconciliation, expiry).
SYSTEM = Principal(subject="system", role=Role.ADMIN)
