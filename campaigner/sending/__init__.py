"""Sending: the target, apply's exactly-once loop, the doubts the provider's logs settle, report collection.

Shell: drives the client and the ledger; the commands call it.
"""

from campaigner.sending.apply import ensure_scenario, send_campaign
from campaigner.sending.job import Job, Progress, SendCounts
from campaigner.sending.target import Target, choose_target

__all__ = ["Job", "Progress", "SendCounts", "Target", "choose_target", "ensure_scenario", "send_campaign"]
