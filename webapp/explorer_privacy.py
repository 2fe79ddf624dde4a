"""What the explorer shows of the metering chaincode's data.

Readings, alerts and bills are personal consumption data: the metering pages and API show
them only to a meter's organization's staff and to regulators by level (README, "Who may read
meter data"), and refuse any other member NOT_METER_STAFF. The explorer showed the same data to
every member all the same: a `readingsSubmit` transaction's arguments are the signed batch of
96 quarter-hour readings, and its written values, like a key's history, the stored readings,
alerts and bills. For a viewer other than a console administrator (who reads every meter, as
the national regulator), the explorer keeps the metering transactions' structure (function,
codes, endorsements, keys, versions) and withholds their arguments and values.
"""

from __future__ import annotations

from typing import Any

from ledger.core.statekeys import namespaced
from webapp.metering_api import CHAINCODE
from webapp.sessions import UserSession

WITHHELD = "withheld: personal consumption data, shown to regulator administrators (meter staff read it on the metering pages)"


def sees_meter_data(user: UserSession | None) -> bool:
    return bool(user and user.is_admin)


PUBLIC_FUNCTIONS = ("tariffSet",)  # tariffs are public to every member
PUBLIC_KEY_PREFIXES = (namespaced(CHAINCODE, "t/"),)  # a tariff's versions


def is_metering_key(key: str) -> bool:
    """A key of the metering chaincode holding meter data (not a public tariff)."""
    return key.startswith(namespaced(CHAINCODE, "")) and not key.startswith(PUBLIC_KEY_PREFIXES)


def transaction_for(user: UserSession | None, tx: dict[str, Any]) -> dict[str, Any]:
    """`tx` (ledger.tools.explorer.describe_transaction) as `user` may see it."""
    if sees_meter_data(user) or tx.get("chaincode") != CHAINCODE or tx.get("function") in PUBLIC_FUNCTIONS:
        return tx
    writes = [{**w, "value": WITHHELD} if is_metering_key(str(w.get("key", ""))) and not w.get("delete") else w for w in tx.get("writes") or []]
    return {**tx, "args": [WITHHELD] if tx.get("args") else [], "writes": writes, "withheld": True}


def history_for(user: UserSession | None, key: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A key's history as `user` may see it: a metering key's values withheld."""
    if sees_meter_data(user) or not is_metering_key(key):
        return entries
    return [{**e, "value": WITHHELD} for e in entries]
