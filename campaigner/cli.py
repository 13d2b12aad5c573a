"""The command line: a click group whose subcommands live in ``campaigner/commands/`` and load lazily.

``main(argv=None) -> int`` is the single error boundary: campaigner's own errors print as one line each
and exit 1, Ctrl-C exits 130, anything unexpected exits 3 with its traceback written to a log file.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

import click

from campaigner import __version__
from campaigner.errors import CampaignerError
from campaigner.text.escape import for_terminal

# name -> (module, one-line help). Modules are imported only when their command runs.
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("campaigner.commands.validate", "Check campaign files, their CSVs and templates."),
    "plan": ("campaigner.commands.plan", "Show exactly what apply would send; nothing is sent."),
    "apply": ("campaigner.commands.apply", "Send every planned message exactly once and report."),
    "send-test": ("campaigner.commands.send_test", "Send one row's message to one address, outside the campaign."),
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


_SECRET_VARIABLES = ("INFOBIP_API_KEY", "INFOBIP_PASSWORD")


_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@")
_DB_PASSWORD = re.compile(r"(?i)(postgres(?:ql)?://[^:/@\s]*:)[^@\s]*@|(password=)[^&\s]*")


def _scrub(text: str) -> str:
    """``text`` without the secrets of the environment, as is or escaped (an error may quote a header),
    and without the password of any URL in it (a PostgreSQL ledger's ``postgresql://user:pw@host``)."""
    text = _URL_PASSWORD.sub(r"\1[redacted]@", text)
    for name in _SECRET_VARIABLES:
        secret = os.environ.get(name, "").strip()
        if len(secret) < 4:
            continue
        for form in sorted({secret, repr(secret)[1:-1], repr(secret.encode())[2:-1]}, key=len, reverse=True):
            text = text.replace(form, "[redacted]")
    return text


def _masked(arg: str) -> str:
    """An argument with any database URL's password replaced by ``***``."""
    return _DB_PASSWORD.sub(lambda m: (m.group(1) or m.group(2)) + ("***@" if m.group(1) else "***"), arg)


def _crash_log(exc: BaseException) -> Path:
    directory = Path(os.environ.get("CAMPAIGNER_HOME", ".campaigner"))
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / "crash.log"
        with open(os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600), "a", encoding="utf-8") as fh:
            argv = [_masked(arg) for arg in sys.argv]  # a --state URL may hold a password
            fh.write(f"--- {datetime.now(UTC).isoformat()} campaigner {__version__} {_scrub(repr(argv))}\n")
            fh.write(_scrub("".join(traceback.format_exception(exc))))
        return path
    except OSError:
        return Path("<unwritable>")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this in-process)."""
    if argv is None:  # a command-line run, not a test calling in: its own process to tune
        import gc

        gc.freeze()  # what is loaded so far stays out of the collector's scans
        gc.set_threshold(50_000, 20, 20)  # see campaigner.plan.workers.tune_gc
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
            print(_scrub(traceback.format_exc()), file=sys.stderr, end="")
        for line in exc.lines():
            print(for_terminal(line), file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1
    except Exception as exc:
        if debug:
            print(_scrub(traceback.format_exc()), file=sys.stderr, end="")
        path = _crash_log(exc)
        print(
            for_terminal(
                _scrub(
                    f"campaigner: internal error: {type(exc).__name__}: {exc} (traceback in {path}; please report it)"
                )
            ),
            file=sys.stderr,
        )
        return 3
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
