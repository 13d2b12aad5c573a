"""Text from input files and the provider, as data: made safe for the terminal and markdown where it is shown.

Pure, and open to every package (like :mod:`campaigner.errors`).
"""

from campaigner.text.escape import fence_for, for_markdown, for_terminal, markdown_code

__all__ = ["fence_for", "for_markdown", "for_terminal", "markdown_code"]
