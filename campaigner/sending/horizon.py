"""The provider's 48-hour log horizon: a fresh CI runner refused, and a plan on a fresh ledger that reads the logs.

The provider keeps logs 48 hours. A ledger that knows nothing of a campaign adopts from the logs what was
sent within them; past them, nothing tells a fresh runner what an earlier one sent. So:

- ``apply`` with ``CI`` set, a real target and a ledger file that did not exist before this run refuses
  before sending, unless ``--new-ledger`` says that this is meant (:func:`refuse_fresh_runner`);
- ``plan`` on a ledger that does not know the campaign reads the logs (read-only) for its bulkId and
  counts what the provider has as already sent (:func:`provider_sent`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from campaigner.errors import CampaignerError, ProviderError

if TYPE_CHECKING:
    from campaigner.ledger.location import StateLocation
    from campaigner.omni.client import OmniClient
    from campaigner.sending.target import Target

LOGS_PAGE = 1000  # the provider's maximum per logs call
IDS_PER_CALL = 1000


def refuse_fresh_runner(
    location: StateLocation, existed: bool, target: Target, environ: Mapping[str, str], *, new_ledger: bool
) -> None:
    """Raise when CI is set, the target is real, and the ledger is a local file this run is creating."""
    if new_ledger or not environ.get("CI") or target.is_sandbox or location.is_postgres or existed:
        return
    raise CampaignerError(
        f"error: CI is set and the ledger {location} did not exist before this run (a fresh runner): the provider's "
        "logs keep only 48 hours, so messages sent earlier could be sent again; keep the ledger where every runner "
        "sees it (CAMPAIGNER_STATE=postgresql://...), or pass --new-ledger if this campaign was never sent"
    )


async def provider_sent(client: OmniClient, bulk_id: str, message_ids: Callable[[], Iterable[str]]) -> set[str]:
    """The campaign's message ids the provider's logs hold: by bulkId, or by id over the plan past one page."""
    found = await client.logs(bulk_id=bulk_id, limit=LOGS_PAGE)
    if len(found) < LOGS_PAGE:
        return {str(e["messageId"]) for e in found if e.get("messageId")}
    ids: set[str] = set()
    chunk: list[str] = []
    for mid in message_ids():
        chunk.append(mid)
        if len(chunk) >= IDS_PER_CALL:
            ids |= await _by_id(client, chunk)
            chunk = []
    if chunk:
        ids |= await _by_id(client, chunk)
    return ids


async def _by_id(client: OmniClient, chunk: Sequence[str]) -> set[str]:
    found = await client.logs(message_ids=list(chunk), limit=LOGS_PAGE)
    return {str(e["messageId"]) for e in found if e.get("messageId")}


def logs_unreadable(exc: BaseException) -> bool:
    """The logs could not be read (the plan then says its count is an upper bound)."""
    return isinstance(exc, ProviderError | OSError)
