"""The JSON log format: one object per line, tracebacks included, request id bound."""

from __future__ import annotations

import json
import logging
import sys

from authapi.log import JsonFormatter, request_id_var


def _record(message: str, *, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("authapi.test", logging.ERROR, __file__, 1, message, (), exc_info)


def test_a_record_with_a_traceback_is_one_json_line() -> None:
    line = JsonFormatter().format(_record("it\nfailed", exc=True))

    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "it\nfailed"
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "authapi.test"
    assert entry["request_id"] is None
    assert "ValueError: boom" in entry["exception"]


def test_the_request_id_of_the_current_request_is_in_the_line() -> None:
    token = request_id_var.set("req-42")
    try:
        entry = json.loads(JsonFormatter().format(_record("hello")))
    finally:
        request_id_var.reset(token)
    assert entry["request_id"] == "req-42"
    assert "exception" not in entry
