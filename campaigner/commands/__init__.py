"""The subcommands: one module each, with ``run(args) -> int``; imported lazily by :mod:`campaigner.cli`."""
