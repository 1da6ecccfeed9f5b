"""The README's settings table is the one generated from reelflow.settings: it cannot drift."""

from __future__ import annotations

import pytest

from reelflow.devtools.settings_doc import README, render_readme, settings_table
from reelflow.settings import Settings


def test_readme_settings_table_is_the_generated_one():
    current = README.read_text(encoding="utf-8")
    assert render_readme(current) == current, (
        "README.md's settings table differs from reelflow/settings.py: run `make docs` "
        "(python -m reelflow.devtools.settings_doc) and commit README.md"
    )


def test_every_setting_has_a_row_with_its_variable_and_description():
    table = settings_table()
    for name, info in Settings.model_fields.items():
        assert info.description, f"Settings.{name} has no description"
        assert f"| `{info.alias or name.upper()}` |" in table
    assert "| `REDIS_DB` | `0` |" in table and "`REELFLOW_REDIS_KEY_PREFIX`" in table


def test_a_setting_without_a_description_is_refused(monkeypatch):
    from pydantic.fields import FieldInfo

    fields = dict(Settings.model_fields)
    fields["undocumented"] = FieldInfo(default=1, alias="REELFLOW_UNDOCUMENTED")
    monkeypatch.setattr(Settings, "model_fields", fields)
    with pytest.raises(ValueError, match="undocumented"):
        settings_table()


def test_a_stale_table_is_replaced_between_the_markers():
    stale = "intro\n<!-- settings:start -->\n| old |\n<!-- settings:end -->\noutro\n"
    fresh = render_readme(stale)
    assert fresh.startswith("intro\n<!-- settings:start -->\n| variable |")
    assert fresh.endswith("<!-- settings:end -->\noutro\n") and "| old |" not in fresh


def test_config_markdown_prints_the_table():
    from typer.testing import CliRunner

    from reelflow.cli.main import app

    result = CliRunner().invoke(app, ["config", "--markdown"])
    assert result.exit_code == 0 and result.output == settings_table()
