"""The summary: per-recipient outcomes aggregated in one pass, and its renderings for machines and people.

Pure core: the data (:mod:`.outcomes`) never imports its renderings (:mod:`.render`).
"""

from campaigner.summary.outcomes import Summary, SummaryContext, summarize

__all__ = ["Summary", "SummaryContext", "summarize"]
