"""What git says changed: the shell side of ``--changed-since``."""
