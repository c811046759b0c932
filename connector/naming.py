"""Names made from Klaviyo's wire names: input keys (lowerCamel), labels (words) and singulars.

The rules, used by every generated action (see ``klaviyo_connector.actions.generated``):

- a key is the lowerCamel of a snake_case or kebab-case name: ``get_catalog_items`` ->
  ``getCatalogItems``, ``first_name`` -> ``firstName``, ``coupon-codes`` -> ``couponCodes``;
- a label is its words, capitalised, with the acronyms Klaviyo's own labels use in capitals:
  ``get_catalog_items`` -> "Get Catalog Items", ``sms_consent`` -> "SMS Consent";
- a singular drops a plural ending: ``catalog-categories`` -> ``catalog-category``.

Stdlib only, so listing actions by key and label imports nothing heavy.
"""

from __future__ import annotations

import re

ACRONYMS = {
    "api": "API",
    "html": "HTML",
    "id": "ID",
    "ids": "IDs",
    "ip": "IP",
    "sms": "SMS",
    "url": "URL",
    "urls": "URLs",
    "utm": "UTM",
    "bis": "BIS",
    "sku": "SKU",
    "csv": "CSV",
}
_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")


def words(name: str) -> list[str]:
    """The words of a snake_case, kebab-case or dotted name (``$`` and ``_`` prefixes dropped)."""
    return [w for w in _SEPARATORS.split(name) if w]


def lower_camel(name: str) -> str:
    """``first_name`` -> ``firstName``; ``get_catalog_items`` -> ``getCatalogItems``."""
    parts = [w.lower() for w in words(name)]
    if not parts:
        return name
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def label(name: str) -> str:
    """``get_catalog_items`` -> "Get Catalog Items"; ``external_id`` -> "External ID"."""
    return " ".join(ACRONYMS.get(w.lower(), w[:1].upper() + w[1:]) for w in words(name))


def singular(name: str) -> str:
    """A resource segment in the singular: ``profiles`` -> ``profile``, ``categories`` -> ``category``.

    Only the last word changes (``profile-bulk-import-jobs`` -> ``profile-bulk-import-job``); a
    name without a plural ending stays as it is (``template-universal-content``).
    """
    head, sep, last = name.rpartition("-") if "-" in name else ("", "", name)
    if last.endswith("ies"):
        last = last[:-3] + "y"
    elif last.endswith(("sses", "xes")):
        last = last[:-2]
    elif last.endswith("s") and not last.endswith("ss"):
        last = last[:-1]
    return f"{head}{sep}{last}"
