"""Every controller under /api/v1, in one list."""

from kith.aggregates.endpoints import CompanyController, DashboardController, MentionController, TagController
from kith.connectors.endpoints import ConnectionCallbackController, ConnectionController
from kith.contacts.endpoints import ContactController
from kith.conversations.endpoints import ConversationController, TimelineController
from kith.people.endpoints import AuditController, DuplicateController, MergeController
from kith.sync.endpoints import SyncController

API_CONTROLLERS = [
    ContactController,
    ConversationController,
    TimelineController,
    SyncController,
    DashboardController,
    CompanyController,
    TagController,
    MentionController,
    ConnectionController,
    DuplicateController,
    AuditController,
    MergeController,
]
# Under /api/v1 without a token: the browser comes back from the provider with a sealed state.
PUBLIC_API_CONTROLLERS = [ConnectionCallbackController]
