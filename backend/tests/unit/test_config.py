"""Settings (authapi.config) and `python -m authapi check-config`."""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from authapi.config import PLACEHOLDER_SECRET, Settings
from support import PROJECT_ROOT, TEST_MFA_KEY, TEST_SECRET

ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
SETTING_NAMES = [name.upper() for name in Settings.model_fields]


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting leaks in from the test runner's environment or a developer's .env;
    a valid MFA_ENCRYPTION_KEY is set, since these tests are about other settings."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MFA_ENCRYPTION_KEY", TEST_MFA_KEY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def example_settings() -> dict[str, str]:
    """`KEY=value` lines of the real .env.example, comments skipped."""
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if match:
            values[match.group(1)] = match.group(2)
    return values


def failing_fields(error: ValidationError) -> set[str]:
    return {str(item["loc"][0]) for item in error.errors() if item["loc"]}


# --- JWT_SECRET ----------------------------------------------------------------------


def test_missing_secret_is_refused() -> None:
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert "jwt_secret" in failing_fields(raised.value)


def test_empty_secret_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", "")
    with pytest.raises(ValidationError):
        Settings()


def test_31_byte_secret_is_refused() -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(jwt_secret="s" * 31)
    assert "jwt_secret" in failing_fields(raised.value)


def test_secret_length_counts_bytes_not_characters() -> None:
    # 16 characters, 32 bytes in UTF-8: long enough.
    assert Settings(jwt_secret="é" * 16).jwt_secret.get_secret_value() == "é" * 16
    # 31 bytes once encoded (15 two-byte characters + 1): too short.
    with pytest.raises(ValidationError):
        Settings(jwt_secret="é" * 15 + "x")


def test_32_byte_secret_is_accepted() -> None:
    settings = Settings(jwt_secret="s" * 32)
    assert settings.jwt_secret.get_secret_value() == "s" * 32


def test_the_env_example_placeholder_secret_is_refused() -> None:
    placeholder = example_settings()["JWT_SECRET"]
    assert placeholder == PLACEHOLDER_SECRET
    assert len(placeholder.encode()) >= 32  # refused for being the example, not for length
    with pytest.raises(ValidationError) as raised:
        Settings(jwt_secret=placeholder)
    assert "jwt_secret" in failing_fields(raised.value)


def test_a_copied_env_example_is_refused(isolated_environment: Path) -> None:
    """Copying .env.example to .env without generating a secret must not start the app."""
    (isolated_environment / ".env").write_text(ENV_EXAMPLE.read_text())
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert "jwt_secret" in failing_fields(raised.value)


def test_secret_is_not_shown_in_repr_or_dump() -> None:
    settings = Settings(jwt_secret=TEST_SECRET)
    assert TEST_SECRET not in repr(settings)
    assert TEST_SECRET not in str(settings.model_dump())


def test_rejected_secret_is_not_echoed_in_the_validation_error() -> None:
    """Started any other way than `python -m authapi` (e.g. `uvicorn authapi.main:create_app
    --factory`), the ValidationError's text is what lands in the log."""
    short = "hunter2-short-secret"
    with pytest.raises(ValidationError) as raised:
        Settings(jwt_secret=short)
    assert short not in str(raised.value)


# --- MFA_ENCRYPTION_KEY ----------------------------------------------------------------


def test_missing_mfa_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MFA_ENCRYPTION_KEY")
    with pytest.raises(ValidationError) as raised:
        Settings(jwt_secret=TEST_SECRET)
    assert failing_fields(raised.value) == {"mfa_encryption_key"}


@pytest.mark.parametrize(
    "key",
    [
        "",
        "not-a-key",
        "c2hvcnQta2V5LXNob3J0LWtleQ==",  # base64, but 18 bytes
        "dGVzdC1tZmEta2V5LTAxMjM0NTY3ODlhYmNkZWZnaGk=!",
    ],
)
def test_malformed_mfa_key_is_refused_without_echoing_it(key: str) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(jwt_secret=TEST_SECRET, mfa_encryption_key=key)
    assert failing_fields(raised.value) == {"mfa_encryption_key"}
    message = str(raised.value)
    assert "urandom(32)" in message  # says how to make a good one
    if key:
        assert key not in message


def test_mfa_defaults_match_the_contract() -> None:
    settings = Settings(jwt_secret=TEST_SECRET)
    assert settings.mfa_token_ttl_seconds == 300
    assert settings.mfa_issuer == "authapi"


def test_check_config_with_a_bad_mfa_key_fails_without_printing_it(
    isolated_environment: Path,
) -> None:
    bad_key = "bm90LTMyLWJ5dGVzLW9mLWtleQ"
    result = run_check_config(
        isolated_environment, JWT_SECRET=TEST_SECRET, MFA_ENCRYPTION_KEY=bad_key
    )

    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "MFA_ENCRYPTION_KEY" in output
    assert bad_key not in output
    assert "Traceback" not in output


# --- sources and precedence ----------------------------------------------------------


def test_dotenv_file_is_read(isolated_environment: Path) -> None:
    (isolated_environment / ".env").write_text(f"JWT_SECRET={TEST_SECRET}\nPORT=9100\n")
    settings = Settings()
    assert settings.jwt_secret.get_secret_value() == TEST_SECRET
    assert settings.port == 9100


def test_environment_variable_overrides_dotenv(
    isolated_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (isolated_environment / ".env").write_text(
        f"JWT_SECRET={TEST_SECRET}\nPORT=9100\nLOG_LEVEL=DEBUG\n"
    )
    monkeypatch.setenv("PORT", "9200")

    settings = Settings()

    assert settings.port == 9200
    assert settings.log_level == "DEBUG"  # not overridden: .env still applies


def test_defaults_match_the_contract() -> None:
    settings = Settings(jwt_secret=TEST_SECRET)
    assert settings.database_url == "sqlite:///./authapi.db"
    assert settings.jwt_algorithm == "HS256"
    assert settings.access_token_ttl_seconds == 24 * 3600
    assert settings.bcrypt_rounds == 12
    assert settings.rate_limit_auth == "5/minute"
    assert settings.rate_limit_storage_uri == "memory://"
    assert settings.login_failure_limit == 10
    assert settings.login_failure_window_seconds == 15 * 60
    assert settings.trusted_proxies == []
    assert settings.cors_origins == []
    assert [str(network) for network in settings.metrics_allowed_ips] == ["127.0.0.0/8", "::1/128"]


# --- list settings -------------------------------------------------------------------


def test_plain_comma_separated_lists_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1,10.0.0.0/8")
    monkeypatch.setenv("CORS_ORIGINS", "http://a.test,https://b.test")

    settings = Settings()

    assert settings.trusted_proxies == [
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("10.0.0.0/8"),
    ]
    assert settings.cors_origins == ["http://a.test", "https://b.test"]


def test_plain_lists_tolerate_spaces_and_read_from_dotenv(isolated_environment: Path) -> None:
    (isolated_environment / ".env").write_text(
        f"JWT_SECRET={TEST_SECRET}\n"
        "TRUSTED_PROXIES=127.0.0.1, 10.0.0.0/8 , ::1\n"
        "CORS_ORIGINS=http://a.test, https://b.test\n"
    )

    settings = Settings()

    assert [str(network) for network in settings.trusted_proxies] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "::1/128",
    ]
    assert settings.cors_origins == ["http://a.test", "https://b.test"]


def test_json_lists_parse_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("TRUSTED_PROXIES", '["127.0.0.1", "10.0.0.0/8"]')
    monkeypatch.setenv("CORS_ORIGINS", '["http://a.test", "https://b.test"]')

    settings = Settings()

    assert [str(network) for network in settings.trusted_proxies] == ["127.0.0.1/32", "10.0.0.0/8"]
    assert settings.cors_origins == ["http://a.test", "https://b.test"]


def test_empty_lists_mean_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("TRUSTED_PROXIES", "")
    monkeypatch.setenv("CORS_ORIGINS", "")

    settings = Settings()

    assert settings.trusted_proxies == []
    assert settings.cors_origins == []


def test_metrics_allowed_ips_takes_addresses_and_networks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("METRICS_ALLOWED_IPS", "192.0.2.10, 10.1.0.0/16,fd00::/8")

    settings = Settings()

    assert [str(network) for network in settings.metrics_allowed_ips] == [
        "192.0.2.10/32",
        "10.1.0.0/16",
        "fd00::/8",
    ]


@pytest.mark.parametrize("value", ["", "[]"])
def test_empty_metrics_allowed_ips_allows_nobody(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("METRICS_ALLOWED_IPS", value)

    assert Settings().metrics_allowed_ips == []


def test_invalid_metrics_allowed_ip_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("METRICS_ALLOWED_IPS", "127.0.0.1,prometheus.internal")
    with pytest.raises(ValidationError):
        Settings()


def test_invalid_trusted_proxy_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1,not-an-ip")
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize("origins", ["*", "http://a.test,*", '["*"]'])
def test_wildcard_cors_origin_is_refused(monkeypatch: pytest.MonkeyPatch, origins: str) -> None:
    monkeypatch.setenv("JWT_SECRET", TEST_SECRET)
    monkeypatch.setenv("CORS_ORIGINS", origins)
    with pytest.raises(ValidationError) as raised:
        Settings()
    assert "cors_origins" in failing_fields(raised.value)


# --- .env.example --------------------------------------------------------------------


def test_env_example_lists_every_setting() -> None:
    listed = set(example_settings())
    missing = sorted(set(SETTING_NAMES) - listed)
    assert missing == [], f".env.example does not document: {missing}"


def test_env_example_lists_only_real_settings() -> None:
    """A key that is no setting would be silently ignored (extra='ignore')."""
    unknown = sorted(set(example_settings()) - set(SETTING_NAMES))
    assert unknown == [], f".env.example lists keys that are not settings: {unknown}"


def test_env_example_with_a_real_secret_is_a_valid_configuration(
    isolated_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `make run` writes: the example with JWT_SECRET and MFA_ENCRYPTION_KEY filled in."""
    monkeypatch.delenv("MFA_ENCRYPTION_KEY")
    text = re.sub(
        r"^JWT_SECRET=.*$", f"JWT_SECRET={TEST_SECRET}", ENV_EXAMPLE.read_text(), flags=re.M
    )
    text = re.sub(
        r"^MFA_ENCRYPTION_KEY=.*$", f"MFA_ENCRYPTION_KEY={TEST_MFA_KEY}", text, flags=re.M
    )
    (isolated_environment / ".env").write_text(text)

    settings = Settings()

    assert settings.jwt_secret.get_secret_value() == TEST_SECRET
    assert settings.mfa_encryption_key.get_secret_value() == TEST_MFA_KEY


# --- python -m authapi check-config ------------------------------------------------


def run_check_config(cwd: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in SETTING_NAMES}
    env["MFA_ENCRYPTION_KEY"] = TEST_MFA_KEY
    env.update(settings)
    return subprocess.run(
        [sys.executable, "-m", "authapi", "check-config"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_config_with_a_short_secret_fails_without_printing_it(
    isolated_environment: Path,
) -> None:
    secret = "tiny-secret-value-4f2a"
    result = run_check_config(isolated_environment, JWT_SECRET=secret)

    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "JWT_SECRET" in output
    assert secret not in output
    assert "Traceback" not in output


def test_check_config_with_the_placeholder_fails_without_printing_it(
    isolated_environment: Path,
) -> None:
    result = run_check_config(isolated_environment, JWT_SECRET=PLACEHOLDER_SECRET)

    assert result.returncode != 0
    assert PLACEHOLDER_SECRET not in result.stdout + result.stderr


def test_check_config_with_a_good_secret_succeeds_without_printing_it(
    isolated_environment: Path,
) -> None:
    result = run_check_config(isolated_environment, JWT_SECRET=TEST_SECRET)

    assert result.returncode == 0, result.stderr
    assert TEST_SECRET not in result.stdout + result.stderr
