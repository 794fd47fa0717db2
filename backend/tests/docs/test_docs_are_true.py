"""The README, the docs site (docs/) and specs/ describe the app that runs:
checked, not hoped."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from sqlmodel import SQLModel

import authapi.models  # noqa: F401  (registers the tables)
from authapi.config import Settings
from servers import authapi_server
from support import PROJECT_ROOT

README = (PROJECT_ROOT / "README.md").read_text()
DOCS = PROJECT_ROOT / "docs"
MKDOCS_YML = PROJECT_ROOT / "mkdocs.yml"
CONFIGURATION = (DOCS / "configuration.md").read_text()
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


def test_configuration_page_settings_table_lists_every_setting() -> None:
    table = _section(CONFIGURATION, "## Settings")
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", table, flags=re.MULTILINE))
    assert documented == {name.upper() for name in Settings.model_fields}


class _MkdocsLoader(yaml.SafeLoader):
    """mkdocs.yml may hold `!!python/name:...` tags (emoji, custom fences): read as None."""


_MkdocsLoader.add_multi_constructor("tag:yaml.org,2002:python/", lambda loader, suffix, node: None)


def _nav_pages(entry: object) -> set[str]:
    """The pages of a mkdocs `nav`: a path, a list of entries, or {title: entry}."""
    if isinstance(entry, str):
        return set() if "://" in entry else {entry}
    if isinstance(entry, list):
        return set().union(*(_nav_pages(item) for item in entry))
    if isinstance(entry, dict):
        return set().union(*(_nav_pages(value) for value in entry.values()))
    return set()


def test_every_docs_page_is_in_the_site_nav() -> None:
    """No orphan page: each file of docs/ is reachable from the site's navigation
    (and the nav names no page that is not there; `mkdocs build --strict` in
    `make test` checks the links)."""
    config = yaml.load(MKDOCS_YML.read_text(), Loader=_MkdocsLoader)  # noqa: S506 (a SafeLoader)
    nav = _nav_pages(config["nav"])
    pages = {path.relative_to(DOCS).as_posix() for path in DOCS.rglob("*.md")}
    assert pages - nav == set(), "pages missing from the nav of mkdocs.yml"
    assert nav - pages == set(), "nav entries without a page in docs/"


def test_architecture_module_map_names_every_module_and_only_modules() -> None:
    """The map is drawn from the code: a module added, moved or deleted without the
    map following fails here."""
    page = (DOCS / "architecture.md").read_text()
    block = re.search(
        r"```text\nbackend/src/authapi/\n(.*?)```", _section(page, "## Module map"), re.DOTALL
    )
    assert block is not None
    listed = [line.split()[0] for line in block.group(1).splitlines() if line.startswith("  ")]
    package = PROJECT_ROOT / "backend/src/authapi"
    modules = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "__init__.py"
    )
    assert sorted(listed) == modules
    assert len(listed) == len(set(listed))


def test_data_model_names_every_column_of_every_table() -> None:
    for table in SQLModel.metadata.sorted_tables:
        section = _section(DATA_MODEL, f"## `{table.name}`")
        for column in table.columns:
            assert f"`{column.name}`" in section, f"{table.name}.{column.name}"
        for index in table.indexes:
            assert f"`{index.name}`" in section, f"{table.name}: index {index.name}"


RESET_TOKEN_LINE = re.compile(r"^RESET_TOKEN=.*$", flags=re.MULTILINE)


def _sh_block(section: str) -> str:
    block = re.search(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert block is not None
    script = block.group(1)
    assert "API=http://127.0.0.1:8000" in script
    return script


def _run(script: str, base_url: str) -> str:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script.replace("http://127.0.0.1:8000", base_url)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _reset_token_from_log(workdir: Path, address: str, timeout: float = 10) -> str:
    """The token of the reset link mailed to `address`, as a reader would copy it
    from the log: `console://` writes each mail there (servers.authapi_server sends
    the server's output to workdir/server-<port>.log)."""
    prefix = Settings.model_fields["password_reset_url"].default.split("{token}")[0]
    mail = re.compile(
        rf"console:// mail \(not sent\) to {re.escape(address)}, "
        rf"subject 'Reset your password':.*?{re.escape(prefix)}([A-Za-z0-9_-]+)",
        flags=re.DOTALL,
    )
    deadline = time.monotonic() + timeout
    log = ""
    while time.monotonic() < deadline:  # the sender delivers just after the commit
        log = "".join(path.read_text(errors="replace") for path in workdir.glob("server-*.log"))
        tokens = mail.findall(log)
        if tokens:
            return str(tokens[-1])
        time.sleep(0.1)
    raise AssertionError(f"no reset mail to {address} in the server log:\n{log[-4000:]}")


@pytest.mark.slow
def test_readme_curl_tour_runs_against_a_live_server(tmp_path: Path) -> None:
    """The tour, then its forgot-password part, on one server: the second part
    resets the password of the account the first one created."""
    tour = _sh_block(_section(README, "## Quick tour"))
    forgot = _sh_block(_section(README, "### Forgot password: a link by mail"))
    # The reader runs the part before the token line, copies the token from the
    # log, then runs the rest: so does this test.
    placeholder = RESET_TOKEN_LINE.search(forgot)
    assert placeholder is not None
    ask, use = forgot[: placeholder.start()], forgot[placeholder.end() :]

    with authapi_server(tmp_path) as base_url:
        out = _run(tour, base_url)
        asked = _run(ask, base_url)
        token = _reset_token_from_log(tmp_path, "ada@example.com")
        used = _run(f"API={base_url}\nRESET_TOKEN={token}\n{use}", base_url)

    assert '"access_token"' in out  # signup answered 201 with a token
    assert '"email":"ada@example.com"' in out  # /auth/me
    assert '"current":true' in out  # /auth/sessions
    lines = out.strip().splitlines()
    assert "204" in lines  # logout
    assert lines[-1] == "401"  # the same token afterwards
    assert '"code":"token_revoked"' in out

    # Two 202s with the same body: an address with an account and one without.
    answers = asked.strip().splitlines()
    assert answers[1::2] == ["202", "202"]
    assert answers[0] == answers[2]

    # Reset 204, the same link again 400 link_invalid, the new password logs in.
    lines = used.strip().splitlines()
    assert lines[0] == "204"
    assert '"code":"link_invalid"' in lines[1]
    assert lines[2:] == ["400", "200"]
