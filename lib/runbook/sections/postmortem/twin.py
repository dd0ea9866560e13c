"""The postmortem's HTML twin: the same Markdown as one self-contained page (its charts inside
it as data, its style inline), for mail or a browser without a Markdown viewer. Links to the
evidence stay relative: the folder travels with the page."""

from __future__ import annotations

import base64
import functools
import html
import re
from pathlib import Path
from typing import Any

_STYLE = """body { font-family: system-ui, sans-serif; max-width: 60em; margin: 2em auto;
padding: 0 1em; line-height: 1.45; color: #202124; }
table { border-collapse: collapse; font-size: .9em; } td, th { border: 1px solid #dadce0;
padding: 3px 6px; vertical-align: top; } code { background: #f1f3f4; padding: 0 .2em; }
img { max-width: 100%; } em { color: #5f6368; }"""
_IMAGE = re.compile(r'<img src="([^":]+\.png)"')


@functools.cache
def _renderer() -> Any:
    import mistune

    # escape=True: raw HTML in the text is shown, never run.
    return mistune.create_markdown(escape=True, plugins=["table", "strikethrough"])


def page(markdown: str, folder: Path) -> str:
    """The page of `markdown`, its PNG images (relative to `folder`) inlined."""
    body = str(_renderer()(markdown))

    def inline(match: re.Match[str]) -> str:
        target = (folder / html.unescape(match.group(1)).replace("%20", " "))
        try:
            data = base64.b64encode(target.read_bytes()).decode("ascii")
        except OSError:
            return match.group(0)
        return f'<img src="data:image/png;base64,{data}"'

    body = _IMAGE.sub(inline, body)
    heading = re.search(r"^# (.+)$", markdown, re.M)
    name = html.escape(heading.group(1) if heading else "Postmortem")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n<title>{name}'
            f"</title>\n<style>\n{_STYLE}\n</style></head><body>\n{body}\n</body></html>\n")
