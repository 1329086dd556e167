"""The package's shape, kept: imports run one way, down the layers of ARCHITECTURE.md.

Each module of ``django_kakiyo`` belongs to one layer; it may import only modules of lower
layers, never one of its own layer or above, not even inside a function (``AppConfig.ready``,
where Django wants apps' modules imported, is the one exception). A new module must be given
a layer here, which is the moment to decide where it belongs. No module is over 350 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "django_kakiyo"
MAX_LINES = 350

#: From the bottom up. A module's name is its path in the package, dotted; a subpackage or
#: folder named here covers everything in it.
LAYERS: list[tuple[str, list[str]]] = [
    (
        "foundations (nothing of ours)",
        ["__init__", "exceptions", "javascript_json", "storable", "validators", "backoff",
         "background", "status", "date_hierarchy"],
    ),
    ("signatures and ids", ["signing", "event_ids"]),
    ("a setting's declaration", ["setting_declaration"]),
    ("settings", ["conf"]),
    ("secrets at rest", ["secret_box"]),
    ("reading a request", ["envelope", "database", "caller_ip"]),
    ("tables models registers", ["monitoring_tables", "refusal_table", "webhook_endpoints"]),
    (
        "tables, typed views, the broker, the Kakiyo API",
        ["models", "payload_views", "publishing", "kakiyo_api", "checks", "tallies",
         "known_endpoints"],
    ),
    (
        "typed data and the tables' own jobs",
        ["event_data", "rejections", "retention", "readings", "tally_writer", "endpoint_auth"],
    ),
    ("signals and order", ["signals", "ordering"]),
    ("the at-risk alert", ["at_risk"]),
    ("receivers", ["receivers"]),
    ("processing", ["processing", "samples"]),
    ("dispatch", ["dispatch", "testing"]),
    ("storing and operating", ["ingest", "actions", "pytest_plugin", "endpoint_operations",
                                  "endpoint_sync"]),
    ("the spool", ["spool"]),
    ("what operators are told, re-verifying", ["health", "reverify", "stats"]),
    ("the metrics", ["metrics"]),
    ("parts of the admin screens", ["admin_parts", "endpoint_admin"]),
    (
        "HTTP and operators' screens",
        ["views", "sweeper", "admin", "events_api", "monitoring_views"],
    ),
    ("the events API's schema", ["api_schema"]),
    (
        "entry points",
        ["tasks", "urls", "apps", "client", "management", "templatetags", "migrations"],
    ),
]  # fmt: skip
#: Function-level imports of our own modules are allowed only here.
LAZY_IMPORTS_ALLOWED = {"apps"}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts)


MODULES = sorted(PACKAGE.rglob("*.py"))


def layer_of(module: str) -> int:
    """The layer index of ``module`` (dotted, inside the package)."""
    parts = module.split(".")
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    for index, (_, members) in enumerate(LAYERS):
        for depth in range(len(parts), 0, -1):
            if ".".join(parts[:depth]) in members:
                return index
    raise AssertionError(f"django_kakiyo.{module} has no layer in {__name__}.LAYERS")


def own_imports(path: Path) -> list[tuple[str, bool]]:
    """The package's modules ``path`` imports, each with whether the import is nested in a
    function or class (not at module level)."""
    tree = ast.parse(path.read_text("utf-8"))
    module_level = set(map(id, tree.body))
    package = module_name(path).split(".")[:-1]
    found: list[tuple[str, bool]] = []
    for node in ast.walk(tree):
        nested = id(node) not in module_level
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("django_kakiyo."):
                    found.append((alias.name.removeprefix("django_kakiyo."), nested))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.split(".")[0] == "django_kakiyo":
                target = node.module.split(".")[1:]
            else:
                continue
            # "from . import checks" names modules (or, "from .. import __version__", a
            # package's attribute); "from .conf import x" names one module.
            if node.module is None or not target:
                for alias in node.names:
                    named = [*target, alias.name]
                    is_module = PACKAGE.joinpath(*named).with_suffix(".py").exists() or (
                        PACKAGE.joinpath(*named).is_dir()
                    )
                    found.append((".".join(named if is_module else target) or "__init__", nested))
            else:
                found.append((".".join(target) or "__init__", nested))
    return found


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_imports_run_down_the_layers(path: Path) -> None:
    importer = module_name(path)
    own = layer_of(importer)
    for imported, nested in own_imports(path):
        if imported.split(".")[0] == importer.split(".")[0]:
            continue  # inside one subpackage (kakiyo_api, management): its own order
        theirs = layer_of(imported)
        assert theirs < own, (
            f"django_kakiyo.{importer} ({LAYERS[own][0]}) imports django_kakiyo.{imported} "
            f"({LAYERS[theirs][0]}): imports must run down the layers"
        )
        if nested:
            assert importer in LAZY_IMPORTS_ALLOWED, (
                f"django_kakiyo.{importer} imports django_kakiyo.{imported} inside a function"
            )


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_no_module_is_over_350_lines(path: Path) -> None:
    if "migrations" in path.parts:
        return  # generated
    lines = len(path.read_text("utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module_name(path)} has {lines} lines"


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The test above could pass by seeing nothing: make sure it sees imports of each form."""
    module = PACKAGE / "ingest.py"
    found = dict(own_imports(module))
    assert "dispatch" in found
    assert "models" in found
    assert layer_of("views") > layer_of("ingest") > layer_of("dispatch") > layer_of("models")
    apps = dict(own_imports(PACKAGE / "apps.py"))
    assert apps.get("sweeper") is True  # imported inside ready(): seen, and nested
