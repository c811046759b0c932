"""Every picklist data source; each module exports DATA_SOURCES."""

from klaviyo_connector.datasources import accounts, profiles

DATA_SOURCES = (*accounts.DATA_SOURCES, *profiles.DATA_SOURCES)
