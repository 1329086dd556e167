"""Subcommands for a management command (``kakiyo_webhooks list``, ``kakiyo_endpoints
create``), each accepting the command's own options after it too."""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable

from django.core.management.base import CommandParser

#: ``add(name, summary, details="")``: a subcommand's parser.
AddSubcommand = Callable[..., CommandParser]


def subcommands(parser: CommandParser, command: str) -> AddSubcommand:
    """The subcommands of ``parser`` (one is required): returns the function that adds one,
    with ``summary`` as its help and ``summary details`` as its description."""
    commands = parser.add_subparsers(
        dest="subcommand", metavar="SUBCOMMAND", title="subcommands", required=True
    )

    def add(name: str, summary: str, details: str = "") -> CommandParser:
        sub: CommandParser = commands.add_parser(
            name, help=summary, description=f"{summary} {details}".strip()
        )
        accept_options_of(parser, sub, command)
        return sub

    return add


def accept_options_of(parser: CommandParser, sub: CommandParser, command: str) -> None:
    """Let ``parser``'s options (``--api-url``, Django's ``--settings``, ``--verbosity``, ...)
    also follow the subcommand: ``kakiyo_webhooks list --settings mysite.settings``.

    argparse gives everything after a subcommand to the subcommand's parser, which knows only
    its own options. Each copy defaults to ``SUPPRESS``, so it sets its value only when given
    there and never overwrites one given before the subcommand.
    """
    group = sub.add_argument_group(f"options of {command} (also accepted before SUBCOMMAND)")
    for action in parser._actions:
        if action.option_strings and not isinstance(
            action, (argparse._HelpAction, argparse._VersionAction)
        ):
            option = copy.copy(action)
            option.default = argparse.SUPPRESS
            group._add_action(option)
