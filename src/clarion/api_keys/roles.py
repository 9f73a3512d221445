"""The roles an API key can hold (no dependencies: the CLI lists them in its help)."""

from __future__ import annotations

#: The roles a key can hold, and what each allows.
ROLES = {
    "viewer": "read everything through the API",
    "status_page_viewer": "read everything through the API",
    "status_page_publisher": "publish incidents, maintenance windows and their updates",
    "manage_settings": "create, change and archive components",
}
PUBLISH_ROLE = "status_page_publisher"
CONFIGURE_ROLE = "manage_settings"
