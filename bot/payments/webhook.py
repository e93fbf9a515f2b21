"""The Crypto Pay webhook on the bot's web server (webhook mode, bot/webhook.py).

POST CRYPTO_PAY_WEBHOOK_PATH (default `/payments/cryptopay`; set the public URL of it as the app's
webhook in @CryptoBot → Crypto Pay → My Apps → Webhooks). The raw body's signature is checked first
(`crypto-pay-api-signature`: HMAC-SHA256 keyed with SHA256(token), constant-time compare): a bad or
missing one is 401 and nothing is read. A signed update is settled through TopUpService.settle_invoice,
the same call polling uses, and answered 200 even when the invoice is not ours or cannot be read
(a retry would not change that; the admins are told). Only a failure on our side (the database) is
500, so Crypto Pay delivers it again later.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import web

from bot.payments.cryptopay import SIGNATURE_HEADER, parse_invoice, signature_matches

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


def add_cryptopay_route(app: web.Application, bot_app: Any) -> None:
    """Serve the Crypto Pay webhook on `app` when CRYPTO_PAY_TOKEN is set (`bot_app`: a BotApp)."""
    settings = bot_app.settings
    if settings.crypto_pay_token is None:
        return
    token = settings.crypto_pay_token.get_secret_value()
    workflow = bot_app.dispatcher.workflow_data

    async def handle(request: web.Request) -> web.Response:
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return web.json_response({"ok": False}, status=413)
        if not signature_matches(token, body, request.headers.get(SIGNATURE_HEADER)):
            log.warning("Crypto Pay webhook: bad or missing signature from %s", request.remote)
            return web.json_response({"ok": False}, status=401)
        try:
            update = orjson.loads(body)
        except ValueError:
            log.warning("Crypto Pay webhook: a signed body that is not JSON")
            return web.json_response({"ok": True})
        if not isinstance(update, dict) or update.get("update_type") != "invoice_paid":
            return web.json_response({"ok": True})
        try:
            invoice = parse_invoice(update.get("payload"))
        except ValueError as error:
            log.warning("Crypto Pay webhook: an invoice we cannot read (%s)", error)
            return web.json_response({"ok": True})
        topups = workflow.get("topups")
        if topups is None:  # still starting
            return web.json_response({"ok": False}, status=503)
        try:
            settlement = await topups.settle_invoice(invoice)
        except Exception:
            log.exception("Crypto Pay webhook: settling invoice %s failed", invoice.invoice_id)
            return web.json_response({"ok": False}, status=500)
        log.info("Crypto Pay webhook: invoice %s %s", invoice.invoice_id, settlement.outcome)
        return web.json_response({"ok": True})

    app.router.add_post(settings.crypto_pay_webhook_path, handle)
