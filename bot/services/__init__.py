"""Business rules as plain async services; handlers call these, tests drive them without Telegram."""
