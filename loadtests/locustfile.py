"""Locust entry point; the scenarios live in loadtests/scenarios/ (mix and tokens: scenarios/common.py).

    KITH_TOKENS_FILE=tokens.txt uv run locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 \\
        --headless -u 20 -r 5 -t 60s

`loadtests/loadtest.py` does it all: data, a load-test plan, servers, workers, stepped users, a report.
"""

from scenarios.scroller import MobileScroller  # noqa: F401
from scenarios.sync_writer import SyncWriter  # noqa: F401
from scenarios.webclient import WebClient  # noqa: F401
