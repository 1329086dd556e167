"""Check a built site: README links into docs/ resolve, and no page loads an outside asset.

    python docs/_ext/check_build.py docs/_build/html

1. Every link of README.md into ``docs/`` (``docs/howto/production.md#workers-and-beat``)
   names a page the build produced (``howto/production.html``) and, with a ``#fragment``,
   an id on that page.
2. No built page or stylesheet loads anything from another site (``<script src=http...>``,
   a stylesheet, an image, a font, ``url(http...)`` or ``@import`` in CSS): the site works
   offline, behind a firewall, from a file:// URL.

Exits non-zero with every problem listed.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)")
OUTSIDE = re.compile(r"^(https?:)?//", re.IGNORECASE)
#: Tags and the attribute through which each loads something into the page.
LOADS = {"script": "src", "img": "src", "iframe": "src", "source": "src", "link": "href"}
#: ``<link rel=...>`` values that only point somewhere (never fetched to show the page).
LINK_RELS_THAT_POINT = {"canonical", "next", "prev", "index", "search", "author", "license"}


def readme_links(readme: str) -> list[str]:
    """README.md's link targets into docs/ (relative paths, with any #fragment)."""
    return [target for target in LINK.findall(readme) if target.startswith("docs/")]


def page_for(target: str, site: Path) -> tuple[Path, str]:
    """The built HTML file a link into docs/ means, and its fragment ("" for none)."""
    path, _, fragment = target.partition("#")
    relative = path.removeprefix("docs/")
    if relative in ("", "/") or relative.endswith("/"):
        relative += "index.md"
    return site / Path(relative).with_suffix(".html"), fragment


class Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)


class OutsideAssets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.found += css_outside(attributes.get("style") or "")
        attribute = LOADS.get(tag)
        if attribute is None:
            return
        if tag == "link" and set((attributes.get("rel") or "").split()) <= LINK_RELS_THAT_POINT:
            return
        value = attributes.get(attribute) or ""
        if OUTSIDE.match(value):
            self.found.append(f"<{tag} {attribute}={value}>")


def css_outside(css: str) -> list[str]:
    urls = re.findall(r"url\(\s*['\"]?((?:https?:)?//[^'\")]+)", css, re.IGNORECASE)
    imports = re.findall(r"@import\s+['\"]((?:https?:)?//[^'\"]+)", css, re.IGNORECASE)
    return [f"url({url})" for url in urls] + [f"@import {url}" for url in imports]


def problems(site: Path, readme: str) -> list[str]:
    """Every problem of the site built in ``site`` (README.md's text is ``readme``)."""
    found: list[str] = []
    if not (site / "index.html").is_file():
        return [f"{site} holds no built site (index.html)"]
    for target in readme_links(readme):
        page, fragment = page_for(target, site)
        if not page.is_file():
            found.append(
                f"README.md links to {target}: the build made no {page.relative_to(site)}"
            )
            continue
        if fragment:
            ids = Ids()
            ids.feed(page.read_text("utf-8"))
            if fragment not in ids.ids:
                found.append(f"README.md links to {target}: no id {fragment!r} on that page")
    for html in sorted(site.rglob("*.html")):
        assets = OutsideAssets()
        text = html.read_text("utf-8")
        assets.feed(text)
        for style in re.findall(r"<style[^>]*>(.*?)</style>", text, re.DOTALL | re.IGNORECASE):
            assets.found += css_outside(style)
        found += [f"{html.relative_to(site)} loads {asset}" for asset in assets.found]
    for css in sorted(site.rglob("*.css")):
        found += [
            f"{css.relative_to(site)} loads {asset}"
            for asset in css_outside(css.read_text("utf-8"))
        ]
    return found


def main() -> None:
    site = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "_build" / "html")
    readme = (ROOT / "README.md").read_text("utf-8")
    found = problems(site.resolve(), readme)
    if found:
        sys.exit("The built docs fail their checks:\n- " + "\n- ".join(found))
    count = len(readme_links(readme))
    print(f"docs: {count} README links into docs/ resolve; no page loads an outside asset")


if __name__ == "__main__":
    main()
