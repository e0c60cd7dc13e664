"""Notifications: one outbox of deliveries, sent by pluggable senders (docs/notifications.md)."""
