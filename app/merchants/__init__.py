"""Merchants under 门前三包: shops, their frontage zones and the merchant responsible."""
