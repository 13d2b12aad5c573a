"""The command line: a click group whose subcommands live in ``campaigner/commands/`` and load lazily.

``main(argv=None) -> int`` is the single error boundary: campaigner's own errors print as one line each
and exit 1, Ctrl-C exits 130, anything unexpected exits 3 with its traceback written to a log file.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

import click

from campaigner import __version__
from campaigner.errors import CampaignerError

# name -> (module, one-line help). Modules are imported only when their command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("campaigner.commands.validate", "Check campaign files, their CSVs and templates."),
    "plan": ("campaigner.commands.plan", "Show exactly what apply would send; nothing is sent."),
    "apply": ("campaigner.commands.apply", "Send every planned message exactly once and report."),
    "report": ("campaigner.commands.report", "Fetch outstanding delivery reports and write the summary."),
    "status": ("campaigner.commands.status", "Print the ledger's counts for a campaign (no network)."),
    "unlock": ("campaigner.commands.unlock", "Release a campaign's apply lock."),
    "state": ("campaigner.commands.state", "Copy a ledger (SQLite file <-> PostgreSQL)."),
    "sandbox": ("campaigner.commands.sandbox", "Run the embedded OMNI sandbox on loopback."),
    "schema": ("campaigner.commands.schema", "Print the JSON Schema of the campaign file."),
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(COMMANDS[cmd_name][0])
        command: click.Command = module.command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="campaigner")
@click.option("--debug", is_flag=True, help="Log HTTP requests (secrets redacted) and show tracebacks.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """campaigner: campaigns as files in git, LINE first and SMS as failover.

    `plan` shows what would be sent, `apply` sends it exactly once and writes the summary.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="debug: %(name)s: %(message)s", stream=sys.stderr)


def _crash_log(exc: BaseException) -> Path:
    directory = Path(os.environ.get("CAMPAIGNER_HOME", ".campaigner"))
    try:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "crash.log"
        with path.open("a", encoding="utf-8") as fh:
            fh.write(f"--- {datetime.now(UTC).isoformat()} campaigner {__version__} {sys.argv!r}\n")
            fh.write("".join(traceback.format_exception(exc)))
        return path
    except OSError:
        return Path("<unwritable>")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this in-process)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        result = cli.main(args=args, prog_name="campaigner", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return 1 if exc.exit_code == 2 else exc.exit_code
    except click.exceptions.Abort:
        print("Aborted.", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except CampaignerError as exc:
        if debug:
            traceback.print_exc()
        for line in exc.lines():
            print(line, file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1
    except Exception as exc:
        if debug:
            traceback.print_exc()
        path = _crash_log(exc)
        print(
            f"campaigner: internal error: {type(exc).__name__}: {exc} (traceback in {path}; please report it)",
            file=sys.stderr,
        )
        return 3
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
