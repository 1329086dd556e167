"""Sphinx configuration of django-kakiyo's documentation (``bin/build-docs`` builds it).

The reference is generated from the code at build time (``_ext/kakiyo_sphinx.py``), so Django
is set up first, with the example project's settings and URLs (the events API is mounted at
``/kakiyo/`` there, as in the tutorial). Nothing is fetched at build time, and the pages load
no asset from another site.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import django

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS.parent), str(DOCS / "_ext")]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
django.setup()

from django_kakiyo import __version__  # noqa: E402

project = "django-kakiyo"
author = "django-kakiyo contributors"
copyright = "django-kakiyo contributors"
version = release = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "kakiyo_sphinx"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext"]

# MyST: Markdown pages; headings get anchors (``page.md#a-heading``) down to level 3.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

autodoc_member_order = "bysource"
autodoc_typehints = "description"

# Options, ids and code read as typed: no curly quotes, no "--" turned into a dash.
smartquotes = False

html_theme = "furo"
html_title = f"django-kakiyo {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
# Furo's pages load nothing from another site; Sphinx adds no CDN script without math.
html_theme_options = {"navigation_with_keys": True}
