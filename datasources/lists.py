"""lists picklists."""

from klaviyo_connector.model import DataSource

DATA_SOURCES: tuple[DataSource, ...] = ()
