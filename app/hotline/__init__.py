"""The 12345 hotline bridge: signed work orders in, callbacks out (docs/hotline.md)."""
