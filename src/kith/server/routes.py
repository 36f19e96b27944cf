"""Every controller under /api/v1, in one list."""

from kith.contacts.endpoints import ContactController

API_CONTROLLERS = [ContactController]
