"""The reference pages' generated parts, read from the code: reStructuredText, no Sphinx needed.

Each ``*_rst()`` function returns the reST that a directive of ``kakiyo_sphinx`` puts in a
page; ``tests/test_docs.py`` calls the same functions and the ``*_problems()`` ones, so a
setting, signal, data class or command without documentation fails the test suite as well as
the docs build. Django must be set up first (the docs' ``conf.py`` and the tests do it).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import textwrap
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.core.management import BaseCommand, find_commands, load_command_class
from django.dispatch import Signal

import django_kakiyo
from django_kakiyo import conf, event_data, payload_views, signals

APP = "django_kakiyo"
SIGNALS_SOURCE = Path(signals.__file__)


def heading(title: str, underline: str) -> list[str]:
    return [title, underline * len(title), ""]


def paragraph(text: str, indent: str = "") -> list[str]:
    """``text`` as one reST paragraph (blank line after), its lines indented."""
    return [indent + line for line in textwrap.dedent(text).strip().splitlines()] + [""]


def plain(text: str) -> str:
    """Plain ``text`` (a hint, a help message) escaped so that reST shows it as it is."""
    return re.sub(r"([\\*`_|])", r"\\\1", text)


def literal(value: str) -> str:
    """``value`` as inline reST literal text."""
    if "``" in value or value.endswith("`"):
        raise ValueError(f"{value!r} cannot be an inline literal")
    return f"``{value}``"


# -- settings ---------------------------------------------------------------------------------


def settings_rst() -> str:
    """One section per ``KAKIYO`` key, in ``conf.SETTINGS`` order: default, meaning, checks."""
    lines: list[str] = []
    for setting in conf.SETTINGS:
        lines += [f".. _setting-{setting.name}:", ""]
        lines += heading(f"``{setting.name}``", "-")
        lines += [f"**Default:** {literal(repr(setting.default))}", ""]
        lines += paragraph(setting.doc)
        checks = sorted({f"django_kakiyo.{check_id}" for _, check_id in setting.rules})
        if checks:
            lines += [
                "**Checked by:** "
                + ", ".join(
                    f":ref:`{check} <check-{check.rsplit('.', 1)[1]}>`" for check in checks
                )
                + (f". {plain(setting.hint)}" if setting.hint else "."),
                "",
            ]
        if setting.sensitive:
            lines += ["Its value is never shown in an error message or a log line.", ""]
    return "\n".join(lines)


def settings_problems() -> list[str]:
    return [
        f"KAKIYO[{setting.name!r}] has no doc"
        for setting in conf.SETTINGS
        if not setting.doc.strip()
    ]


def check_ids() -> set[str]:
    """Every system check id the app can report (``E001``...), from its sources."""
    found: set[str] = set()
    for module in ("checks.py", "conf.py"):
        source = (Path(django_kakiyo.__file__).parent / module).read_text("utf-8")
        found |= set(re.findall(r'"([EW]0\d\d)"', source))
        found |= set(re.findall(r"django_kakiyo\.([EW]0\d\d)", source))
    return found


# -- signals and data -------------------------------------------------------------------------


def attribute_docs(path: Path) -> dict[str, str]:
    """The ``#:`` comments right above each module-level assignment of ``path``."""
    docs: dict[str, str] = {}
    comment: list[str] = []
    for line in path.read_text("utf-8").splitlines():
        if line.startswith("#:"):
            comment.append(line[2:].strip())
        elif match := re.match(r"([A-Za-z_]\w*)(?::[^=]+)? = ", line):
            if comment:
                docs[match.group(1)] = " ".join(comment)
            comment = []
        else:
            comment = []
    return docs


def module_signals() -> dict[str, Any]:
    """Every signal ``django_kakiyo.signals`` defines, by attribute name."""
    return {
        name: value
        for name, value in vars(signals).items()
        if isinstance(value, Signal) and not name.startswith("_")
    }


def signals_rst() -> str:
    """The registry as a table, then the two signals every event may send."""
    docs = attribute_docs(SIGNALS_SOURCE)
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 50 35 15",
        "",
        "   * - Event type: sent when",
        "     - Signal (in ``django_kakiyo.signals``)",
        "     - ``data``",
    ]
    for event_type in signals.EVENT_TYPES.values():
        name = signals.signal_name(event_type.name)
        data = event_type.data_class.__name__
        lines += [
            f"   * - ``{event_type.name}``: {plain(event_type.description)}",
            f"     - ``{name}``",
            f"     - :ref:`{data} <data-{data}>`",
        ]
    lines.append("")
    registered = {signals.signal_name(name) for name in signals.EVENT_TYPES}
    for name in sorted(set(module_signals()) - registered, key=list(module_signals()).index):
        lines += [f".. _signal-{name}:", ""]
        lines += heading(f"``signals.{name}``", "-")
        lines += paragraph(docs.get(name, ""))
    return "\n".join(lines)


def signals_problems() -> list[str]:
    docs = attribute_docs(SIGNALS_SOURCE)
    problems = [
        f"signals.{name} has no #: comment" for name in module_signals() if not docs.get(name)
    ]
    for event_type in signals.EVENT_TYPES.values():
        if not event_type.description.strip():
            problems.append(f"{event_type.name} has no description")
        name = signals.signal_name(event_type.name)
        if getattr(signals, name, None) is not event_type.signal:
            problems.append(f"{event_type.name}'s signal is not signals.{name}")
    page = signals_rst()
    for name in module_signals():
        if f"``{name}``" not in page and f"``signals.{name}``" not in page:
            problems.append(f"signals.{name} is not on the generated page")
    return problems


def data_classes() -> list[type[event_data.EventData]]:
    """The data classes receivers get and their parents: the tree from ``EventData`` down,
    each class before its subclasses."""
    used = {event_type.data_class for event_type in signals.EVENT_TYPES.values()}
    used.add(signals.data_class_for("an.unknown.type"))
    wanted = {parent for cls in used for parent in cls.__mro__}
    ordered: list[type[event_data.EventData]] = []

    def visit(cls: type[event_data.EventData]) -> None:
        ordered.append(cls)
        for subclass in cls.__subclasses__():
            if subclass in wanted:
                visit(subclass)

    visit(event_data.EventData)
    return ordered


def _type_name(annotation: Any) -> str:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return text.replace("dt.datetime", "datetime")


def data_classes_rst() -> str:
    lines: list[str] = []
    for cls in data_classes():
        lines += [f".. _data-{cls.__name__}:", ""]
        lines += heading(f"``{cls.__name__}``", "-")
        parents = [base.__name__ for base in cls.__bases__ if base is not object]
        if parents:
            links = ", ".join(f":ref:`{p} <data-{p}>`" for p in parents)
            lines += [f"A subclass of {links}, with its attributes.", ""]
        lines += paragraph(inspect.getdoc(cls) or "")
        annotations = inspect.get_annotations(cls)
        own = [item for item in dataclasses.fields(cls) if item.name in annotations]
        texts = cls.__dict__.get("texts", {})
        if own:
            lines += ["Attributes:", ""]
            for item in own:
                where = ""
                if item.name in texts:
                    places = " then ".join(f"``data.{'.'.join(p)}``" for p in texts[item.name])
                    where = f' From {places}, the first that holds text; else ``""``.'
                elif item.name == "raw":
                    where = " The payload's ``data`` object, as received."
                elif item.name == "timestamp":
                    where = " ``data.timestamp`` (or the envelope's), an aware datetime."
                elif item.name.endswith("_id"):
                    where = ' In either payload shape (see below); ``""`` when absent.'
                lines += [f"- ``{item.name}`` (``{_type_name(item.type)}``).{where}"]
            lines.append("")
        if cls is event_data.EventData:
            lines += [
                "Nested objects, typed views (see :ref:`payload-views`): "
                + ", ".join(
                    f"``{name}`` (:ref:`{view} <view-{view}>`)"
                    for name, view in VIEWS_OF_EVENT_DATA.items()
                )
                + '. ``data["key"]``, ``data.get("key")`` and ``data.raw`` reach every '
                "field, documented or not.",
                "",
            ]
    return "\n".join(lines)


VIEWS_OF_EVENT_DATA = {
    name: str(inspect.signature(getattr(event_data.EventData, name).fget).return_annotation)
    for name in ("prospect", "campaign", "conversation", "agent")
}


def _view_of(name: str) -> type[payload_views.View]:
    view: type[payload_views.View] = getattr(payload_views, VIEWS_OF_EVENT_DATA[name])
    return view


def views() -> list[type[payload_views.View]]:
    """The typed views of nested objects, each followed by the views it nests."""
    found: list[type[payload_views.View]] = []

    def visit(view: type[payload_views.View]) -> None:
        if view in found:
            return
        found.append(view)
        for _, field in view_fields(view):
            if isinstance(field.read, type) and issubclass(field.read, payload_views.View):
                visit(field.read)

    for name in ("prospect", "campaign", "conversation", "agent"):
        visit(_view_of(name))
    return found


def view_fields(view: type[payload_views.View]) -> Iterator[tuple[str, payload_views.Field[Any]]]:
    for name, value in vars(view).items():
        if isinstance(value, payload_views.Field):
            yield name, value


_READERS = {
    "_text": "str",
    "_count": "int",
    "_number": "float",
    "parse_timestamp": "datetime",
}


def views_rst() -> str:
    lines: list[str] = []
    for view in views():
        lines += [f".. _view-{view.__name__}:", ""]
        lines += heading(f"``{view.__name__}``", "-")
        lines += paragraph(inspect.getdoc(view) or "")
        items = []
        if issubclass(view, payload_views.IdentifiedView):
            items.append(
                "- ``id`` (``str`` or ``None``): the event's id for it, from either shape."
            )
        for name, field in view_fields(view):
            read = field.read
            if isinstance(read, type):
                kind = f":ref:`{read.__name__} <view-{read.__name__}>`, falsy when absent"
            else:
                kind = f"``{_READERS[read.__name__]}`` or ``None``"
            items.append(f"- ``{name}`` ({kind}): from ``{field.key}``.")
        lines += [*items, ""]
    return "\n".join(lines)


def data_problems() -> list[str]:
    problems = [
        f"{cls.__name__} has no docstring"
        for cls in data_classes()
        if cls.__doc__ is None or cls.__doc__.startswith(cls.__name__ + "(")  # dataclass default
    ]
    problems += [f"{view.__name__} has no docstring" for view in views() if not view.__doc__]
    return problems


# -- management commands ----------------------------------------------------------------------

_DJANGO_OPTIONS = {
    action.dest for action in BaseCommand().create_parser("manage.py", "command")._actions
}


def command_names() -> list[str]:
    return sorted(find_commands(str(Path(django_kakiyo.__file__).parent / "management")))


def own_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The arguments a command adds: not Django's common ones, not ``-h``, not the copies of
    the parent's options that ``kakiyo_webhooks`` gives each subcommand."""
    return [
        action
        for action in parser._actions
        if action.dest not in _DJANGO_OPTIONS
        and not isinstance(action, argparse._SubParsersAction)
        and action.default is not argparse.SUPPRESS
    ]


def subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            found += [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    return found


def argument_label(action: argparse.Action) -> str:
    if not action.option_strings:
        return str(action.metavar or action.dest).upper()
    option = max(action.option_strings, key=len)
    if action.nargs == 0:
        return option
    if action.choices:
        return f"{option} {{{','.join(map(str, action.choices))}}}"
    return f"{option} {action.metavar or action.dest.upper()}"


def usage(prog: str, parser: argparse.ArgumentParser) -> str:
    parts = [prog]
    for action in own_actions(parser):
        label = argument_label(action)
        optional = (action.option_strings and not action.required) or action.nargs == "?"
        parts.append(f"[{label}]" if optional else label)
    if subcommands(parser):
        parts.append("SUBCOMMAND ...")
    return " ".join(parts)


def arguments_rst(parser: argparse.ArgumentParser) -> list[str]:
    lines: list[str] = []
    exclusive = [
        {action.dest for action in group._group_actions}
        for group in parser._mutually_exclusive_groups
    ]
    for action in own_actions(parser):
        notes = []
        default = action.default
        if default not in (None, False) and str(default) not in (action.help or ""):
            notes.append(f"default {literal(str(default))}")
        if isinstance(action, argparse._AppendAction):
            notes.append("repeatable")
        for group in exclusive:
            if action.dest in group:
                others = sorted(group - {action.dest})
                notes.append(
                    "not with " + ", ".join(f"``--{o.replace('_', '-')}``" for o in others)
                )
        note = f" ({'; '.join(notes)})" if notes else ""
        lines += [
            f"``{argument_label(action)}``{note}",
            *paragraph(plain(action.help or ""), "   "),
        ]
    return lines


def commands_rst() -> str:
    lines: list[str] = []
    for name in command_names():
        command = load_command_class(APP, name)
        parser = command.create_parser("manage.py", name)
        lines += [f".. _command-{name}:", ""]
        lines += heading(f"``{name}``", "-")
        lines += [".. code-block:: text", "", f"   {usage(f'manage.py {name}', parser)}", ""]
        lines += paragraph(plain(str(command.help)))
        lines += arguments_rst(parser)
        for sub_name, summary, sub in subcommands(parser):
            lines += [f".. _command-{name}-{sub_name}:", ""]
            lines += heading(f"``{name} {sub_name}``", "~")
            lines += [".. code-block:: text", ""]
            lines += [f"   {usage(f'manage.py {name} {sub_name}', sub)}", ""]
            lines += paragraph(plain(sub.description or summary))
            lines += arguments_rst(sub)
    return "\n".join(lines)


def commands_problems() -> list[str]:
    problems = []
    for name in command_names():
        command = load_command_class(APP, name)
        if not str(command.help).strip():
            problems.append(f"{name} has no help")
        parser = command.create_parser("manage.py", name)
        parsers: Iterable[tuple[str, str, argparse.ArgumentParser]] = [
            (name, str(command.help), parser),
            *((f"{name} {sub}", summary, p) for sub, summary, p in subcommands(parser)),
        ]
        for label, summary, each in parsers:
            if not summary.strip():
                problems.append(f"{label} has no help")
            for action in own_actions(each):
                if not (action.help or "").strip():
                    problems.append(f"{label} {argument_label(action)} has no help")
    page = commands_rst()
    for name in command_names():
        if f"``{name}``" not in page:
            problems.append(f"{name} is not on the generated page")
    return problems
