"""Offline tools, not the bot: the fake Telegram Bot API server, the panel and Crypto Pay
simulators, and the terminal demo (`smmbot demo`, `smmbot sandbox`, `smmbot chat`).

Tests, benchmarks and the demo use them; `bot/` and `storage/` never import this package.
"""
