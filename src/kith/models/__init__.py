"""Every table of Kith. Importing this module registers them all on `Base.metadata`."""

from kith.models.base import Base
from kith.models.contact import Contact, ContactKey
from kith.models.conversation import Conversation, Message
from kith.models.job_request import JobRequest
from kith.models.mention import Mention
from kith.models.sync_run import SyncRun
from kith.models.sync_upload import SyncRunContact, SyncUpload
from kith.models.tenancy import ApiToken, Tenant, User
from kith.models.view_refresh import ViewRefresh

__all__ = [
    "ApiToken",
    "Base",
    "Contact",
    "ContactKey",
    "Conversation",
    "JobRequest",
    "Mention",
    "Message",
    "SyncRun",
    "SyncRunContact",
    "SyncUpload",
    "Tenant",
    "User",
    "ViewRefresh",
]
