"""The ledger: the durable record of what was sent (message states, reports, scenario keys) and the lock.

Shell: all of campaigner's SQL lives here, and nowhere else.
"""

from campaigner.ledger.lock import CampaignLock
from campaigner.ledger.messages import Ledger, MessageIntent

__all__ = ["CampaignLock", "Ledger", "MessageIntent"]
