"""Growth: promo codes, referrals, support conversations, owner alerts, customer notice settings.

Plain async services (promo.py, referrals.py, support.py, alerts.py, notices.py), built by the
composition root (bot/app.py create_dispatcher); startup.py writes their defaults at start-up. The
order hooks (`referrals.on_order_final`, `on_order_refunded`, `notices.wants_notice`) only need a
database session, so tracking and refunds call them directly.
"""
