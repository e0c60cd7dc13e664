"""Accounts: users and their roles, devices and their bearer tokens, the permission check."""
