"""Locust entry point: scenarios live in loadtests/scenarios/.

    KITH_TOKEN=$(uv run kith token create --tenant large) \\
        uv run locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 --headless -u 20 -r 5 -t 60s
"""

from scenarios.contacts import ContactBrowser  # noqa: F401
