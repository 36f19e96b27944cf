"""One notification channel every API process listens on: caches learn of changes made anywhere.

A message is a small JSON object with a `kind` (`{"kind": "plan", "tenant_id": 7}`).
Writers publish inside their transaction (`publish`; PostgreSQL delivers it at
commit, never for a rollback) or by trigger; each process keeps one dedicated
asyncpg connection LISTENing (`NotificationListener`) and hands each message to
the subscribers of its kind. When that connection drops, messages may have been
missed, so every subscriber is reset (drops all it cached) before listening again.
"""

from kith.notify.channel import CHANNEL, publish
from kith.notify.listener import NotificationListener, Subscriber

__all__ = ["CHANNEL", "NotificationListener", "Subscriber", "publish"]
