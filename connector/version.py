"""The connector's own version (kept beside pyproject.toml's; a test checks they agree)."""

__version__ = "0.1.0"
USER_AGENT = f"klaviyo-connector/{__version__}"
