"""Payment providers the shop takes top-ups through; they know nothing of Telegram handlers or our
database (bot/services/topups does the bookkeeping).

* `cryptopay`: a small Crypto Pay (@CryptoBot) API client over aiohttp, the invoice parser and the
  webhook signature check.
* `stars`: parsing Telegram Stars transactions (getStarTransactions) defensively.
"""
