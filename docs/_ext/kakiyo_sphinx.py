"""Sphinx directives that put the generated reference into pages, and checks of the build.

``.. kakiyo-settings::``, ``.. kakiyo-signals::``, ``.. kakiyo-data-classes::``,
``.. kakiyo-payload-views::``, ``.. kakiyo-commands::`` insert the reST of
:mod:`kakiyo_reference`; ``.. kakiyo-openapi::`` renders the events API's OpenAPI schema (made
by drf-spectacular for the example project's URLs) and writes it beside the pages as
``openapi.yaml`` and ``openapi.json``. A documentation problem the tests would report stops
the build too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kakiyo_reference as reference
import yaml
from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

from django_kakiyo.api_schema import generate_schema

#: Where the schema files go in the built site, beside index.html.
SCHEMA_FILES = ("openapi.yaml", "openapi.json")


def generated(render: Callable[[], str]) -> type[SphinxDirective]:
    class Generated(SphinxDirective):
        """Parse what ``render()`` returns here, headings included."""

        def run(self) -> list[nodes.Node]:
            container = nodes.section()
            container.document = self.state.document
            lines = StringList(render().splitlines(), source=f"<{render.__name__}>")
            nested_parse_with_titles(self.state, lines, container)
            return list(container.children)

    return Generated


# -- the OpenAPI schema ---------------------------------------------------------------------


def schema() -> dict[str, Any]:
    from drf_spectacular.drainage import GENERATOR_STATS

    document = generate_schema()
    if GENERATOR_STATS:
        raise ExtensionError("drf-spectacular warned while generating the events API's schema")
    return document


def _type(spec: dict[str, Any]) -> str:
    if "$ref" in spec:
        name = spec["$ref"].rsplit("/", 1)[1]
        return f":ref:`{name} <schema-{name}>`"
    if "allOf" in spec:
        return " and ".join(_type(part) for part in spec["allOf"])
    if "enum" in spec:
        return "one of " + ", ".join(f"``{value}``" for value in spec["enum"] if value != "")
    kind = spec.get("type", "any JSON")
    if kind == "array":
        return f"array of {_type(spec.get('items', {}))}"
    if "format" in spec:
        kind = f"{kind} ({spec['format']})"
    if "minimum" in spec:
        kind = f"{kind}, at least {spec['minimum']}"
    return f"``{kind}``" if kind != "any JSON" else "any JSON"


def _response_type(response: dict[str, Any]) -> str:
    content = response.get("content", {}).get("application/json")
    return _type(content["schema"]) if content else "no body"


def openapi_rst() -> str:
    document = schema()
    lines = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            title = f"``{method.upper()} {path}``"
            lines += [f".. _api-{operation['operationId']}:", ""]
            lines += reference.heading(title, "-")
            lines += reference.paragraph(operation.get("summary", "") + ".")
            parameters = operation.get("parameters", [])
            if parameters:
                lines += ["Parameters:", ""]
                for parameter in parameters:
                    where = parameter["in"]
                    required = ", required" if parameter.get("required") else ""
                    text = parameter.get("description", "")
                    lines += [
                        f"- ``{parameter['name']}`` ({where}, {_type(parameter['schema'])}"
                        f"{required}): {text}"
                    ]
                lines.append("")
            lines += ["Answers:", ""]
            for code, response in operation["responses"].items():
                text = response.get("description") or "OK."
                lines += [f"- **{code}**, {_response_type(response)}: {text}"]
            lines.append("")
    lines += reference.heading("Schemas", "-")
    for name, component in document["components"]["schemas"].items():
        lines += [f".. _schema-{name}:", ""]
        lines += reference.heading(f"``{name}``", "~")
        if "description" in component and "properties" in component:
            lines += reference.paragraph(component["description"].replace("*", "\\*"))
        if "enum" in component:
            lines += reference.paragraph(_type(component) + ".")
            continue
        needed = set(component.get("required", []))
        for field, spec in component.get("properties", {}).items():
            notes = [_type(spec)]
            if spec.get("nullable"):
                notes.append("or ``null``")
            if field not in needed:
                notes.append("optional")
            text = spec.get("description", "")
            lines += [f"- ``{field}`` ({', '.join(notes)}){': ' + text if text else ''}"]
        lines.append("")
    return "\n".join(lines)


def write_schema(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    document = schema()
    out = Path(app.outdir)
    (out / "openapi.json").write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    (out / "openapi.yaml").write_text(yaml.safe_dump(document, sort_keys=False), "utf-8")


def refuse_undocumented(app: Sphinx) -> None:
    problems = (
        reference.settings_problems()
        + reference.signals_problems()
        + reference.data_problems()
        + reference.commands_problems()
    )
    if problems:
        raise ExtensionError("Undocumented: " + "; ".join(problems))


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("kakiyo-settings", generated(reference.settings_rst))
    app.add_directive("kakiyo-signals", generated(reference.signals_rst))
    app.add_directive("kakiyo-data-classes", generated(reference.data_classes_rst))
    app.add_directive("kakiyo-payload-views", generated(reference.views_rst))
    app.add_directive("kakiyo-commands", generated(reference.commands_rst))
    app.add_directive("kakiyo-openapi", generated(openapi_rst))
    app.connect("builder-inited", refuse_undocumented)
    app.connect("build-finished", write_schema)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
