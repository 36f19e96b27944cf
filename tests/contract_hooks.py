"""Schemathesis hooks for tests/test_contract.py (schemathesis.toml names this file).

In the stateful phase each call carries a fresh Idempotency-Key, as a client following the header's
contract does: a new key per new request. Without it the phase draws the same few keys for
unrelated creations across scenarios, and the server rightly replays the first response, Location
included, even after that resource was deleted; the created-resource check (ensure_resource_availability)
would read that replay as a lost resource. The other phases keep generated keys, so replays and the
422 for a key reused with another request stay fuzzed; tests/hardening covers replay semantics.
"""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis
from schemathesis.generation.meta import TestPhase

IDEMPOTENCY_KEY = "idempotency-key"


@schemathesis.hook
def before_call(context: schemathesis.HookContext, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
    meta = case.meta
    if meta is None or meta.phase.name != TestPhase.STATEFUL or not case.headers:
        return
    for name in list(case.headers):
        if name.lower() == IDEMPOTENCY_KEY:
            case.headers[name] = str(uuid.uuid4())
