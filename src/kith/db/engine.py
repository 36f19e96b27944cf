"""Where the database is: the configured server, or the embedded one."""

from __future__ import annotations

import asyncio
import threading
from functools import lru_cache

from kith.config import get_settings
from kith.db.embedded import ensure_database, start_embedded


@lru_cache(maxsize=1)
def database_url() -> str:
    """The database Kith uses, as a plain `postgresql://` URL.

    With DATABASE_URL set that server is used and nothing is started; without
    it the embedded server in KITH_DATA_DIR is started (or joined) and its
    `kith` database created if missing.
    """
    settings = get_settings()
    if settings.database.url:
        return settings.database.url
    url = start_embedded(settings.data_dir)
    _run(ensure_database(url))
    return url


def _run(coro) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    # Called from inside a running loop (e.g. an app factory): run on a helper thread.
    error: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:  # re-raised below, in the caller's thread
            error.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]
