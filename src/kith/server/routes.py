"""Every controller under /api/v1, in one list."""

from kith.aggregates.endpoints import CompanyController, DashboardController, MentionController, TagController
from kith.contacts.endpoints import ContactController
from kith.sync.endpoints import SyncController

API_CONTROLLERS = [
    ContactController,
    SyncController,
    DashboardController,
    CompanyController,
    TagController,
    MentionController,
]
