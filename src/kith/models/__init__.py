"""Every table of Kith. Importing this module registers them all on `Base.metadata`."""

from kith.models.base import Base
from kith.models.connection import Connection
from kith.models.contact import Contact, ContactKey
from kith.models.conversation import Conversation, Message, MessageParticipant
from kith.models.job_request import JobRequest
from kith.models.mention import Mention
from kith.models.sync_run import SyncRun
from kith.models.sync_upload import SyncRunContact, SyncUpload
from kith.models.tenancy import ALL_SCOPES, ApiToken, IdempotencyKey, Plan, Tenant, User
from kith.models.view_refresh import ViewRefresh

__all__ = [
    "ALL_SCOPES",
    "ApiToken",
    "Base",
    "Connection",
    "Contact",
    "ContactKey",
    "Conversation",
    "IdempotencyKey",
    "JobRequest",
    "Mention",
    "Message",
    "MessageParticipant",
    "Plan",
    "SyncRun",
    "SyncRunContact",
    "SyncUpload",
    "Tenant",
    "User",
    "ViewRefresh",
]
