"""RFC 9457 problem documents for every error Kith returns."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from time import monotonic
from typing import Any

from advanced_alchemy.exceptions import DuplicateKeyError, ForeignKeyError, NotFoundError, RepositoryError
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException, ProblemDetailsPlugin
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

logger = logging.getLogger("kith")

# The patterns a client can fail, said in words: an error message should not ask them to read a regex.
PATTERN_WORDS: dict[str, str] = {}
# msgspec's message for a pattern, backslashes doubled.
_REGEX_MESSAGE = re.compile(r"`str` matching regex '(?P<pattern>.*)'", re.DOTALL)


def in_words(pattern: str, words: str) -> str:
    """`pattern`, registered so that a validation error says `words` instead."""
    PATTERN_WORDS[pattern] = words
    return pattern


def _in_words(message: str) -> str:
    if (match := _REGEX_MESSAGE.search(message)) is None:
        return message
    words = PATTERN_WORDS.get(match["pattern"].replace("\\\\", "\\"), "text of the documented form")
    return message[: match.start()] + words + message[match.end() :]


def problem(
    status: int, title: str, detail: str = "", headers: dict[str, str] | None = None, **extra: Any
) -> ProblemDetailsException:
    return ProblemDetailsException(status_code=status, title=title, detail=detail, extra=extra or None, headers=headers)


def bad_request(detail: str, **extra: Any) -> ProblemDetailsException:
    return problem(HTTP_400_BAD_REQUEST, "Bad Request", detail, **extra)


def not_found(detail: str = "Not found") -> ProblemDetailsException:
    return problem(HTTP_404_NOT_FOUND, "Not Found", detail)


def _http_problem(exc: HTTPException) -> ProblemDetailsException:
    """Litestar's own errors (401, 404 route, 400 validation, 405, 413…): title is the status phrase."""
    if exc.status_code >= 500:
        logger.error("server error: %s", exc.detail, exc_info=exc)
    extra = exc.extra
    if isinstance(extra, list):  # validation errors: a list of {key, message, source}
        extra = {
            "errors": [
                {**error, "message": _in_words(error["message"])} if "message" in error else error for error in extra
            ]
        }
    return ProblemDetailsException(
        status_code=exc.status_code,
        title=HTTPStatus(exc.status_code).phrase,
        detail=exc.detail,
        extra=extra or None,
        headers=exc.headers,
    )


def _repository_problem(exc: RepositoryError) -> ProblemDetailsException:
    if isinstance(exc, NotFoundError):
        return not_found()
    if isinstance(exc, (DuplicateKeyError, ForeignKeyError)):
        return problem(HTTP_409_CONFLICT, "Conflict", str(exc.detail or exc))
    if _database_busy(exc):
        return _busy()
    logger.exception("repository error", exc_info=exc)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "Internal Server Error")


def _unexpected(request: Request, exc: Exception) -> Response:
    if _database_busy(exc):
        return _busy().to_response(request)
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "Internal Server Error").to_response(request)


# Seconds a client is asked to wait when the database is at its connection budget.
BUSY_RETRY_AFTER = 1
_BUSY_SQLSTATES = {"53300", "57P03"}  # too_many_connections, cannot_connect_now
_busy_logged_at = 0.0


def _database_busy(exc: BaseException) -> bool:
    """Every connection of the budget was busy past the pool's timeout (kith.db.budget), or the server
    refused one more: the request is fine, the moment is not."""
    current: BaseException | None = exc
    for _ in range(8):
        if current is None:
            return False
        if isinstance(current, PoolTimeoutError) or getattr(current, "sqlstate", None) in _BUSY_SQLSTATES:
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


def _busy() -> ProblemDetailsException:
    global _busy_logged_at
    if (now := monotonic()) - _busy_logged_at > 10:  # a burst says it once, not once per request
        _busy_logged_at = now
        logger.warning("database connections busy: answering 503 (KITH_DB_CONNECTIONS, KITH_DB_POOL_TIMEOUT)")
    return problem(
        HTTP_503_SERVICE_UNAVAILABLE,
        "Service Unavailable",
        "Every database connection is busy: retry shortly",
        headers={"Retry-After": str(BUSY_RETRY_AFTER)},
    )


def problem_details_plugin() -> ProblemDetailsPlugin:
    return ProblemDetailsPlugin(
        ProblemDetailsConfig(
            exception_to_problem_detail_map={HTTPException: _http_problem, RepositoryError: _repository_problem},
        )
    )


# Registered on the app: anything not mapped above still answers as a problem document.
exception_handlers = {Exception: _unexpected}
