"""The README and specs/ describe the app that runs: checked, not hoped."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from sqlmodel import SQLModel

import authapi.models  # noqa: F401  (registers the tables)
from authapi.config import Settings
from servers import authapi_server
from support import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()
DATA_MODEL = (PROJECT_ROOT / "specs/002-auth-jwt-security/data-model.md").read_text()


def _section(markdown: str, heading: str) -> str:
    """The text under `heading` up to the next heading of the same or higher level
    (lines inside fenced code blocks, such as shell comments, are not headings)."""
    level = len(heading.split(" ", 1)[0])
    lines = markdown.splitlines()
    start = lines.index(heading) + 1
    fenced = False
    for offset, line in enumerate(lines[start:]):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(rf"#{{1,{level}}} ", line):
            return "\n".join(lines[start : start + offset])
    return "\n".join(lines[start:])


def test_readme_opens_with_the_two_commands() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, flags=re.DOTALL)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make run", "make test"]


def test_readme_settings_table_lists_every_setting() -> None:
    table = _section(README, "## Configuration")
    documented = set(re.findall(r"^\| `([A-Z_]+)` \|", table, flags=re.MULTILINE))
    assert documented == {name.upper() for name in Settings.model_fields}


def test_data_model_names_every_column_of_every_table() -> None:
    for table in SQLModel.metadata.sorted_tables:
        section = _section(DATA_MODEL, f"## `{table.name}`")
        for column in table.columns:
            assert f"`{column.name}`" in section, f"{table.name}.{column.name}"
        for index in table.indexes:
            assert f"`{index.name}`" in section, f"{table.name}: index {index.name}"


@pytest.mark.slow
def test_readme_curl_tour_runs_against_a_live_server(tmp_path: Path) -> None:
    tour = _section(README, "## Quick tour")
    block = re.search(r"```sh\n(.*?)```", tour, flags=re.DOTALL)
    assert block is not None
    script = block.group(1)
    assert "API=http://127.0.0.1:8000" in script

    with authapi_server(tmp_path) as base_url:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script.replace("http://127.0.0.1:8000", base_url)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert '"access_token"' in out  # signup answered 201 with a token
    assert '"email":"ada@example.com"' in out  # /auth/me
    assert '"current":true' in out  # /auth/sessions
    lines = out.strip().splitlines()
    assert "204" in lines  # logout
    assert lines[-1] == "401"  # the same token afterwards
    assert '"code":"token_revoked"' in out
