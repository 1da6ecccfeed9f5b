"""The README's settings table, generated from reelflow.settings.Settings so it cannot drift.

Every field is one row: its environment variable, its default and its description (a field
without a description is an error: document it where it is declared). A default computed
at run time (a default_factory) is documented by the field's `json_schema_extra={"doc_default":
...}`, never by calling the factory (it would print this machine's value).

    python -m reelflow.devtools.settings_doc          # rewrite README.md between the markers
    python -m reelflow.devtools.settings_doc --check  # exit 1 if README.md is not up to date
    reelflow config --markdown                        # print the table

`make docs` runs the first; tests/unit/test_settings_doc.py fails when the README differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from reelflow.settings import Settings

__all__ = ["END", "START", "render_readme", "settings_table"]

START = "<!-- settings:start -->"
END = "<!-- settings:end -->"
REGENERATE = "make docs"
README = Path(__file__).resolve().parents[2] / "README.md"

_SIZE_WORDS = ("bytes", "multipart_threshold", "chunksize")


def _size(n: int) -> str:
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return str(n)


def _default(name: str, info: FieldInfo) -> str:
    extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    if "doc_default" in extra:
        return str(extra["doc_default"])
    if info.default_factory in (list, dict, tuple, set):
        return "empty"
    if info.default_factory is not None:
        raise ValueError(
            f"Settings.{name} has a default_factory: give it "
            'json_schema_extra={"doc_default": "..."} for the README'
        )
    value: Any = info.default
    if value is PydanticUndefined or value is None:
        return "—"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int) and any(word in name for word in _SIZE_WORDS):
        return _size(value)
    return f"`{value}`"


def settings_table() -> str:
    """The markdown table of every setting, in the order Settings declares them."""
    lines = ["| variable | default | description |", "|---|---|---|"]
    missing = []
    for name, info in Settings.model_fields.items():
        if not info.description:
            missing.append(name)
            continue
        variable = info.alias or name.upper()
        description = " ".join(info.description.split()).replace("|", "\\|")
        lines.append(f"| `{variable}` | {_default(name, info)} | {description} |")
    if missing:
        raise ValueError(f"settings without a description: {', '.join(missing)}")
    return "\n".join(lines) + "\n"


def render_readme(text: str) -> str:
    """`text` (the README) with the table between the markers replaced by a fresh one."""
    if text.count(START) != 1 or text.count(END) != 1 or text.index(START) > text.index(END):
        raise ValueError(f"README.md needs one {START} ... {END} block")
    head, rest = text.split(START)
    _, tail = rest.split(END)
    return f"{head}{START}\n{settings_table()}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is stale")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    current = args.readme.read_text(encoding="utf-8")
    fresh = render_readme(current)
    if args.check:
        if fresh != current:
            print(f"{args.readme}: the settings table is stale; run `{REGENERATE}`")
            return 1
        return 0
    if fresh != current:
        args.readme.write_text(fresh, encoding="utf-8")
        print(f"{args.readme}: settings table regenerated")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
