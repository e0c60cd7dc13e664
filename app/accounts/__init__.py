"""Accounts: users and their roles, devices and their bearer tokens (whom a token names)."""
