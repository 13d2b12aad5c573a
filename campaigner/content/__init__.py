"""The content: LINE and SMS templates in a hardened Jinja2 sandbox, their limits, and SMS encoding.

Pure core: compiles the campaign's templates and renders them per recipient; no I/O.
"""

from campaigner.content.sms import SmsMeasure, measure
from campaigner.content.templates import compile_content

__all__ = ["SmsMeasure", "compile_content", "measure"]
