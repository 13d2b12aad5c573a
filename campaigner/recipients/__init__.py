"""The recipients: the streaming CSV reader, phone numbers to E.164, and compact sets of addresses.

Pure core: reads the recipient CSV and the exclude lists, nothing else.
"""

from campaigner.recipients.reader import SKIP_REASONS, Recipient, Skip, open_recipients

__all__ = ["SKIP_REASONS", "Recipient", "Skip", "open_recipients"]
