"""JSON log lines (KITH_LOG_FORMAT=json, the default), each with the request id when there is one."""

from __future__ import annotations

import datetime as dt
import logging

import msgspec
from litestar.logging.config import LoggingConfig

from kith.observability.requests import request_id


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if rid := request_id.get():
            line["request_id"] = rid
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return msgspec.json.encode(line).decode()


def logging_config(json_logs: bool) -> LoggingConfig:
    formatter = (
        {"()": JsonFormatter} if json_logs else {"format": "%(levelname)s - %(asctime)s - %(name)s - %(message)s"}
    )
    return LoggingConfig(
        formatters={"standard": formatter},
        loggers={"kith": {"level": "INFO", "handlers": ["queue_listener"], "propagate": False}},
        log_exceptions="debug",  # Kith's problem handler logs server errors itself, once
    )
