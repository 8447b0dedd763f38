"""The `vecsmith` typer app and the one place where failures become exit codes.

Verb modules import `app` from here (never from `vecsmith.cli`, which imports them), so there is
no import cycle. Every failure ends as one line on stderr: usage errors (a bad argument, found
before any work) exit 2, data errors (what a file holds, found while reading it) exit 1, and a
traceback is printed only with `vecsmith --debug ...` or ``VECSMITH_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys

import typer
from typer.core import TyperGroup

try:  # typer >= 0.2x carries its own copy of click; older typer uses click itself
    from typer._click import exceptions as click
except ImportError:  # pragma: no cover
    from click import exceptions as click

from vecsmith.cli._errors import describe as _describe
from vecsmith.cli._errors import one_line, say_error

DEBUG = {"on": False}  # set per run by --debug or VECSMITH_DEBUG=1


class CliError(click.ClickException):
    """A failure the user can fix, with the exit code it deserves (1: data, 2: usage)."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def usage_error(message: str) -> CliError:
    return CliError(message, 2)


__all__ = ["DEBUG", "CliError", "Group", "app", "one_line", "say_error", "sub_app",
           "usage_error"]


class Group(TyperGroup):
    """A typer group whose errors are one line each, in `vecsmith` and under CliRunner alike."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        DEBUG["on"] = os.environ.get("VECSMITH_DEBUG", "") not in ("", "0")
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                              standalone_mode=False, **extra)
            code = rv if isinstance(rv, int) else 0
            if code == 130:  # typer turns Ctrl-C into Exit(130)
                say_error("interrupted; outputs were left as they were")
        except click.NoArgsIsHelpError as exc:
            if exc.ctx is not None:
                help_text = exc.ctx.get_help()  # typer prints its rich help and returns ""
                if help_text:
                    sys.stdout.write(help_text + "\n")
            code = 0
        except CliError as exc:
            say_error(exc.message)
            code = exc.exit_code
        except click.UsageError as exc:
            where = f" ({exc.ctx.command_path})" if exc.ctx is not None else ""
            say_error(f"{exc.format_message()}{where}; see --help")
            code = 2
        except click.ClickException as exc:
            say_error(exc.format_message())
            code = exc.exit_code
        except typer.Exit as exc:
            code = exc.exit_code
        except (typer.Abort, KeyboardInterrupt):
            say_error("interrupted; outputs were left as they were")
            code = 130
        except Exception as exc:
            if DEBUG["on"]:
                raise
            say_error(_describe(exc))
            code = 1
        if standalone_mode:
            sys.exit(code)
        return code


def _root(debug: bool = typer.Option(False, "--debug",
                                     help="Show the Python traceback of a failure.")) -> None:
    if debug:
        DEBUG["on"] = True


app = typer.Typer(
    name="vecsmith",
    cls=Group,
    help=(
        "Word-embedding tools: read fastText models exactly, serve vectors from a compact "
        "store, cluster without k, train char-RNNs and online linear models.\n\n"
        "Run 'vecsmith VERB --help' for each verb's options and examples. Exit codes: 0 done, "
        "1 bad data, 2 bad usage (found before any work starts)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    callback=_root,
)


def sub_app(help: str) -> typer.Typer:
    """A verb group (`vecsmith linear ...`) with the same one-line errors."""
    return typer.Typer(cls=Group, help=help, no_args_is_help=True, add_completion=False,
                       pretty_exceptions_enable=False, rich_markup_mode="rich")
