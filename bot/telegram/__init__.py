"""Telegram-facing plumbing: request policy, callback data, keyboards, message rendering."""
