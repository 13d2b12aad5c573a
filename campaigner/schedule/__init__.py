"""Local-time sending windows: each recipient's time zones and the next instant their daytime opens."""

from campaigner.schedule.windows import SCHEDULE_SKIP_REASONS, Scheduler, Window
from campaigner.schedule.zones import ZoneFinder, load_zone

__all__ = ["SCHEDULE_SKIP_REASONS", "Scheduler", "Window", "ZoneFinder", "load_zone"]
