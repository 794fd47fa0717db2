"""What `make run` does to `.env` before serving: a fresh one gets both generated
secrets; an existing one without MFA_ENCRYPTION_KEY gets one added, every other line
left exactly as it was; an existing key is never replaced."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from authapi.config import Settings
from support import PROJECT_ROOT, TEST_MFA_KEY

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")

KEY_LINE = re.compile(r"^MFA_ENCRYPTION_KEY=(.*)$", flags=re.MULTILINE)


def make_mfa_key(workdir: Path) -> subprocess.CompletedProcess[str]:
    """The Makefile's `mfa-key` target (a prerequisite of run, serve and migrate), in a
    folder holding only `.env.example` and whatever `.env` the test put there."""
    shutil.copy(PROJECT_ROOT / ".env.example", workdir / ".env.example")
    return subprocess.run(
        ["make", "-s", "-f", str(PROJECT_ROOT / "Makefile"), f"PYTHON={sys.executable}", "mfa-key"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def settings_from(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(workdir)
    return Settings()


def test_a_fresh_env_gets_both_generated_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = make_mfa_key(tmp_path)

    assert result.returncode == 0, result.stderr
    text = (tmp_path / ".env").read_text()
    keys = KEY_LINE.findall(text)
    assert len(keys) == 1
    assert keys[0] not in result.stdout + result.stderr  # announced, never printed
    assert (tmp_path / ".env").stat().st_mode & 0o777 == 0o600
    settings = settings_from(tmp_path, monkeypatch)
    assert settings.mfa_encryption_key.get_secret_value() == keys[0]


def test_an_old_env_gets_a_key_added_and_keeps_every_other_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As written before the second factor existed: no key line, no final newline.
    old = "JWT_SECRET=an-existing-secret-of-at-least-32-bytes-xx\nPORT=9100\n# mine"
    (tmp_path / ".env").write_text(old)

    result = make_mfa_key(tmp_path)

    assert result.returncode == 0, result.stderr
    text = (tmp_path / ".env").read_text()
    assert text.startswith(old + "\n")
    assert len(KEY_LINE.findall(text)) == 1
    assert settings_from(tmp_path, monkeypatch).port == 9100


def test_an_empty_key_line_is_filled_in_place(tmp_path: Path) -> None:
    lines = ["JWT_SECRET=an-existing-secret-of-at-least-32-bytes-xx", "MFA_ENCRYPTION_KEY=", "A=b"]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n")

    assert make_mfa_key(tmp_path).returncode == 0

    after = (tmp_path / ".env").read_text().splitlines()
    assert [after[0], after[2]] == [lines[0], lines[2]]
    assert re.fullmatch(r"MFA_ENCRYPTION_KEY=[A-Za-z0-9_-]{43}=", after[1])


def test_an_existing_key_is_never_replaced(tmp_path: Path) -> None:
    text = f"JWT_SECRET={'s' * 40}\nMFA_ENCRYPTION_KEY={TEST_MFA_KEY}\n"
    (tmp_path / ".env").write_text(text)

    result = make_mfa_key(tmp_path)

    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".env").read_text() == text
    assert result.stdout == ""
