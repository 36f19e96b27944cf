"""Every controller under /api/v1, in one list."""

from kith.aggregates.endpoints import CompanyController, DashboardController, MentionController, TagController
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
    DuplicateController,
    AuditController,
    MergeController,
]
