"""The one pinned Klaviyo API revision every request sends."""

from datetime import date

REVISION = "2026-07-15"
# Klaviyo retires a revision two years after release; tests fail 90 days before.
REVISION_RETIRES = date(2028, 7, 15)
