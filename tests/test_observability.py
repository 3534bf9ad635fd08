"""Logging rules: signed URLs are redacted, prediction calls stay out of the access log by default."""

from __future__ import annotations

import logging

import pytest

from podml.observability import DropPredictionCalls, configure_logging


def _access(method: str, path: str) -> logging.LogRecord:
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", method, path, "1.1", 200),
        None,
    )


def test_prediction_calls_are_dropped_and_the_api_is_kept() -> None:
    rule = DropPredictionCalls()
    assert not rule.filter(_access("POST", "/api/v1/predict/0b6c1c6e-2d7f-4e8e-9a51-1f0f6d3f1a2b"))
    assert not rule.filter(_access("POST", "/v2/models/0b6c1c6e-2d7f-4e8e-9a51-1f0f6d3f1a2b/infer"))
    assert rule.filter(_access("GET", "/v2/models/0b6c1c6e-2d7f-4e8e-9a51-1f0f6d3f1a2b"))
    assert rule.filter(_access("POST", "/api/deployments"))
    assert rule.filter(logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, "plain", None, None))


def test_access_log_keeps_api_calls_and_redacts_secrets(caplog: pytest.LogCaptureFixture) -> None:
    access = logging.getLogger("uvicorn.access")
    saved = list(access.filters)
    line = '%s - "%s %s HTTP/%s" %d'
    try:
        configure_logging("INFO", log_predictions=False)
        with caplog.at_level(logging.INFO, logger="uvicorn.access"):
            access.info(line, "c", "POST", "/api/v1/predict/0b6c1c6e-2d7f-4e8e-9a51-1f0f6d3f1a2b", "1.1", 200)
            access.info(line, "c", "GET", "/api/files?sig=s3cr3t&x=1", "1.1", 200)
    finally:
        access.filters[:] = saved
    messages = [record.getMessage() for record in caplog.records if record.name == "uvicorn.access"]
    assert messages == ['c - "GET /api/files?sig=REDACTED&x=1 HTTP/1.1" 200']
