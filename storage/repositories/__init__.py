"""Repositories: every SQL statement of the bot lives here, never in handlers or services."""
