"""The published contract is the app's real OpenAPI document."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import yaml

from support import PROJECT_ROOT

CONTRACT = PROJECT_ROOT / "specs/002-auth-jwt-security/contracts/auth.yaml"


def _exporter() -> Any:
    spec = importlib.util.spec_from_file_location(
        "export_openapi", PROJECT_ROOT / "scripts/export_openapi.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_contract_file_equals_the_apps_openapi() -> None:
    """If this fails, run `make spec` and review the diff of contracts/auth.yaml."""
    published = yaml.safe_load(Path(CONTRACT).read_text())
    assert published == _exporter().app_openapi()


def test_every_error_response_is_problem_json() -> None:
    schema = yaml.safe_load(Path(CONTRACT).read_text())
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                content = response["content"]
                assert list(content) == ["application/problem+json"], (path, method, status)
                assert content["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }
            assert "500" in operation["responses"], (path, method)
