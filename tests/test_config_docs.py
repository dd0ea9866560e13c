"""docs/configuration.md is generated from the config's schema and documents every key."""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import sys
import tomllib
from types import ModuleType

from conftest import ROOT


def _generator() -> ModuleType:
    """tools/make_config_docs.py, the page's generator (tools/ is not on the test's path)."""
    name = "make_config_docs"
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gen = _generator()
PAGE = ROOT / gen.PAGE


def _tables(page: str) -> dict[str, str]:
    """The page's text under each `## [section]` heading, by section name."""
    parts = re.split(r"^## `\[\[?([a-z_]+)\]\]?`.*$", page, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _documented(table: str) -> set[str]:
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", table, flags=re.M))


def test_the_page_is_what_the_schema_generates() -> None:
    assert PAGE.read_text(encoding="utf-8") == gen.render(), (
        "docs/configuration.md is stale: run python -m tools.make_config_docs")


def test_every_key_of_the_example_config_is_on_the_page() -> None:
    example = tomllib.loads((ROOT / "runbook.example.toml").read_text(encoding="utf-8"))
    tables = _tables(PAGE.read_text(encoding="utf-8"))
    missing = []
    for section, value in example.items():
        items = value if isinstance(value, list) else [value]
        for item in items:
            missing.extend(f"[{section}] {key}" for key in item
                           if key not in _documented(tables.get(section, "")))
    assert not missing, f"undocumented keys of runbook.example.toml: {missing}"


def test_every_key_of_the_schema_is_on_the_page() -> None:
    tables = _tables(PAGE.read_text(encoding="utf-8"))
    sections = gen.sections()
    assert set(sections) == set(tables)
    for section, cls in sections.items():
        fields = {f.name for f in dataclasses.fields(cls)}
        assert fields == _documented(tables[section]), section


def test_every_key_has_a_meaning_in_one_place() -> None:
    sections = gen.sections()
    for section, cls in sections.items():
        keys = gen.keys(section, cls)        # raises for a key with no meaning
        assert all(k.meaning.strip() for k in keys)
    for (section, name) in gen.MEANINGS:
        cls = sections[section]
        assert name in {f.name for f in dataclasses.fields(cls)}, f"[{section}] {name} is gone"
        beside, _ = gen.field_comments(cls).get(name, ("", ""))
        assert not beside, (f"[{section}] {name} has a comment in config.py: its meaning in "
                            "MEANINGS is never used")


def test_a_key_without_a_meaning_stops_the_generator() -> None:
    @dataclasses.dataclass(frozen=True)
    class Undocumented:
        mystery: str = ""

    try:
        gen.keys("nowhere", Undocumented)
    except KeyError as exc:
        assert "[nowhere] mystery has no meaning" in str(exc)
    else:
        raise AssertionError("a key without a meaning was documented")
