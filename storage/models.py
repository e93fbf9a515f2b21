"""Database tables. Money columns are exact (see storage.types)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy import true as sa_true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.types import DecimalText, Money, UTCDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
    }


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    username: Mapped[str | None] = mapped_column(String(64), index=True)
    first_name: Mapped[str] = mapped_column(String(256), default="")
    language_code: Mapped[str | None] = mapped_column(String(16))
    locale: Mapped[str | None] = mapped_column(String(16))
    # Cache of the ledger sum, changed only together with a ledger row (storage.repositories.ledger).
    balance: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    is_banned: Mapped[bool] = mapped_column(Boolean, default=False)
    blocked_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class LedgerKind(StrEnum):
    DEPOSIT = "deposit"
    ADMIN_CREDIT = "admin_credit"
    ADMIN_DEBIT = "admin_debit"
    ORDER_CHARGE = "order_charge"
    ORDER_REFUND = "order_refund"
    TOPUP = "topup"  # a customer's own payment (bot/services/topups)
    TOPUP_REFUND = "topup_refund"  # a top-up paid back (e.g. refundStarPayment)
    PROMO_CREDIT = "promo_credit"  # a fixed-credit promo code redeemed (bot/services/growth/promo.py)
    PROMO_BONUS = "promo_bonus"  # a percent promo bonus on a top-up
    REFERRAL_EARNING = "referral_earning"  # a referee's completed order (bot/services/growth/referrals.py)
    REFERRAL_REVERSAL = "referral_reversal"  # the share of an earning whose order was refunded


class LedgerEntry(Base):
    """One balance change. `key` is unique, so a charge or refund keyed by an order happens once."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    balance_after: Mapped[Decimal] = mapped_column(Money)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(128), unique=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class OrderState(StrEnum):
    """Our own lifecycle of an order, apart from the panel's raw status."""

    PLACING = "placing"  # charged and recorded, the upstream `add` is under way
    UNKNOWN = "unknown"  # `add` outcome unknown: being checked by the admins
    REVIEW = "review"  # the panel ended it, but the refund it owes is unclear: an admin decides
    REFUSED = "refused"  # upstream refused cleanly; refunded
    ACTIVE = "active"  # placed upstream, not final yet
    COMPLETED = "completed"
    PARTIAL = "partial"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self in {OrderState.REFUSED, OrderState.COMPLETED, OrderState.PARTIAL, OrderState.CANCELED}


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_state_next_poll", "state", "next_poll_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # One key per filled-in form: confirming the same form twice finds this row instead of a new one.
    draft_key: Mapped[str] = mapped_column(String(80), unique=True)
    service_id: Mapped[str] = mapped_column(String(32), index=True)
    service_name: Mapped[str] = mapped_column(Text)
    service_type: Mapped[str] = mapped_column(String(64))
    link: Mapped[str | None] = mapped_column(Text)
    # 64-bit: a big subscription or drip-feed total passes 2^31 (bot/panel/bounds.py bounds it).
    # SQLite's INTEGER is 64-bit already; declaring it so there avoids rewriting the table.
    quantity: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    price: Mapped[Decimal] = mapped_column(Money)
    cost: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(8), default="USD")
    can_refill: Mapped[bool] = mapped_column(Boolean, default=False)
    can_cancel: Mapped[bool] = mapped_column(Boolean, default=False)

    state: Mapped[str] = mapped_column(String(16), default=OrderState.PLACING, index=True)
    upstream_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    upstream_status: Mapped[str | None] = mapped_column(String(64))
    upstream_charge: Mapped[Decimal | None] = mapped_column(DecimalText)
    start_count: Mapped[int | None] = mapped_column(BigInteger)
    remains: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    refunded: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    # Final reports in a row whose refund could not be computed (e.g. Partial with remains
    # "Unknown"); after a few the order goes to the admins (bot/services/tracking.py).
    unusable_reports: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    placed_at: Mapped[datetime | None] = mapped_column()
    status_changed_at: Mapped[datetime | None] = mapped_column()
    next_poll_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    cancel_requested_at: Mapped[datetime | None] = mapped_column()


class ProblemKind(StrEnum):
    """Why an order is on the admins' problem list (besides the UNKNOWN and REVIEW states)."""

    LATE_ANSWER = "late_answer"  # the panel's answer to `add` came after the order was settled
    RECORD_FAILED = "record_failed"  # storing the outcome of `add` failed (step 3 raised)
    ADD_WITH_ERROR = "add_with_error"  # `add` answered an order id and an error at once
    UNUSABLE_REFUND = "unusable_refund"  # a final status whose refund cannot be computed


class OrderProblem(Base):
    """Something about an order only an admin can settle; listed in /problems until resolved.

    `dedupe_key` is unique, so the same finding is recorded (and alerted) once.
    """

    __tablename__ = "order_problems"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    upstream_id: Mapped[str | None] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(index=True)
    resolved_by: Mapped[int | None] = mapped_column(BigInteger)
    resolution: Mapped[str | None] = mapped_column(String(32))


class Service(Base):
    """Local snapshot of one upstream service; never deleted, hidden when it vanishes upstream."""

    __tablename__ = "services"

    service_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    category: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(64))
    type_key: Mapped[str] = mapped_column(String(64))
    rate: Mapped[Decimal] = mapped_column(DecimalText)
    min_quantity: Mapped[int] = mapped_column(BigInteger)
    max_quantity: Mapped[int] = mapped_column(BigInteger)
    dripfeed: Mapped[bool] = mapped_column(Boolean, default=False)
    refill: Mapped[bool] = mapped_column(Boolean, default=False)
    cancel: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(Text, default="")
    average_time: Mapped[str | None] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer, default=0)
    search_text: Mapped[str] = mapped_column(Text, default="")
    available: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str | None] = mapped_column(Text)
    markup_percent: Mapped[Decimal | None] = mapped_column(DecimalText)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Category(Base):
    """A catalog category with a short numeric id for buttons, plus the owner's overrides."""

    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str | None] = mapped_column(Text)
    markup_percent: Mapped[Decimal | None] = mapped_column(DecimalText)
    # The owner's choice of platform (a slug of bot/services/platforms.py); None: read from the name.
    platform: Mapped[str | None] = mapped_column(String(32))


class AppSetting(Base):
    """Settings changed at run time from the admin menu (markup, welcome text, maintenance)."""

    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class FsmRecord(Base):
    """Conversation state, so a user mid-form continues after a restart."""

    __tablename__ = "fsm_records"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RefillState(StrEnum):
    REQUESTED = "requested"  # accepted upstream, waiting for its status
    RUNNING = "running"
    COMPLETED = "completed"
    REJECTED = "rejected"
    # Settled without a result the panel would tell: it accepted the refill but shows nothing we
    # can follow (bot/services/tracking.py). The customer is told so and pointed to support.
    UNCONFIRMED = "unconfirmed"

    @property
    def is_open(self) -> bool:
        return self in (RefillState.REQUESTED, RefillState.RUNNING)


class Refill(Base):
    """A refill request of one order; its status is polled until final.

    `checks` counts the checks in a row that brought no news (an order without a refill id still
    showing its old status) or an error for this refill; bot/services/tracking.py settles the refill
    after a few. `reason` keeps the panel's own words when it refused or lost the refill.
    """

    __tablename__ = "refills"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    upstream_refill_id: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=RefillState.REQUESTED, index=True)
    status_raw: Mapped[str | None] = mapped_column(String(64))
    checks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


class NotificationKind(StrEnum):
    """What an outbox row tells its recipient; one row per (subject, kind) through `dedupe_key`."""

    ORDER_STARTED = "order_started"
    ORDER_COMPLETED = "order_completed"
    ORDER_PARTIAL = "order_partial"
    ORDER_CANCELED = "order_canceled"
    ORDER_NOT_PLACED = "order_not_placed"
    REFILL_COMPLETED = "refill_completed"
    REFILL_REJECTED = "refill_rejected"
    REFILL_UNCONFIRMED = "refill_unconfirmed"
    ADMIN_ALERT = "admin_alert"
    OWNER_ALERT = "owner_alert"  # switchable owner alerts (bot/services/growth/alerts.py)


class Notification(Base):
    """A message to send, written in the same transaction as the change it reports (the outbox).

    Unsent rows survive a crash and are sent by the next run; `dedupe_key` is unique, so seeing the
    same change twice never queues two messages. A sender claims a row (`claimed_until`) before
    sending, so two senders never send the same row. `user_id` is a chat id and has no foreign key:
    admin alerts go to admins who may never have written to the bot.
    """

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_pending", "sent_at", "dropped_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column()
    dropped_at: Mapped[datetime | None] = mapped_column()  # given up: blocked user, or too many failures
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    claimed_until: Mapped[datetime | None] = mapped_column()


# --- admin console (bot/services/admin) ------------------------------------------------------------


class AdminAudit(Base):
    """One admin action: who did what, with which arguments, when. Written in the action's transaction."""

    __tablename__ = "admin_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    admin_id: Mapped[int] = mapped_column(BigInteger, index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    args: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class BroadcastState(StrEnum):
    RUNNING = "running"  # recipients materialised; delivery under way (or to be resumed)
    CANCELLED = "cancelled"
    DONE = "done"


class RecipientState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a sender; Telegram's answer not recorded yet
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"  # the user blocked the bot


class Broadcast(Base):
    """A message to many users. `kind` text: `text` is HTML; photo: `file_id` + `text` as caption;
    copy: the admin's message `source_chat_id`/`source_message_id` copied as is."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    admin_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    file_id: Mapped[str | None] = mapped_column(String(256))
    source_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    source_message_id: Mapped[int | None] = mapped_column(BigInteger)
    audience: Mapped[str] = mapped_column(String(32), default="all")
    state: Mapped[str] = mapped_column(String(16), default=BroadcastState.RUNNING, index=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    progress_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    progress_message_id: Mapped[int | None] = mapped_column(BigInteger)
    # A sender owns a running broadcast while `lease_until` is in the future (one sender at a time).
    runner: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


class BroadcastRecipient(Base):
    """One user of a broadcast; claimed (SENDING) before the send, so nobody gets it twice."""

    __tablename__ = "broadcast_recipients"
    __table_args__ = (Index("ix_broadcast_recipients_state", "broadcast_id", "state", "user_id"),)

    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(16), default=RecipientState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None] = mapped_column()


# --- scale-out coordination (bot/coordination.py) --------------------------------------------------


class Lease(Base):
    """A named lease: `holder` (an INSTANCE_ID) acts as `name` until `expires_at`.

    Taken and renewed with one conditional UPDATE, or an INSERT ... ON CONFLICT DO NOTHING for the
    first holder, so at most one instance holds a lease at a time on SQLite and PostgreSQL alike.
    `term` grows by one whenever the lease changes hands (or is taken again after lapsing).
    """

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column()
    term: Mapped[int] = mapped_column(Integer, default=1)
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProcessedUpdate(Base):
    """A Telegram update being processed (`done` false, claimed until `claimed_until`) or processed
    (`done`); a redelivery of a processed update is skipped, one whose claim ran out is taken over."""

    __tablename__ = "processed_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    done: Mapped[bool] = mapped_column(default=True, server_default=sa_true())
    claimed_until: Mapped[datetime | None] = mapped_column(default=None)


# --- top-ups: customers pay the shop themselves (bot/services/topups) ------------------------------


class TopUpMethod(StrEnum):
    STARS = "stars"
    CRYPTOPAY = "cryptopay"
    MANUAL = "manual"


class TopUpStatus(StrEnum):
    PENDING = "pending"  # waiting for the payment (or, manual: for an admin's decision)
    PAID = "paid"  # credited: exactly one ledger entry of kind `topup` holds its amount
    EXPIRED = "expired"  # closed unpaid; a late payment still settles it (once)
    REJECTED = "rejected"  # manual: an admin refused the receipt
    CANCELLED = "cancelled"  # never payable (the provider refused to create the invoice)
    REFUNDING = "refunding"  # wallet debited, the provider's refund not confirmed yet
    REFUNDED = "refunded"  # paid back: a `topup_refund` ledger entry took the amount back


class TopUp(Base):
    """One top-up: created pending before the customer pays, settled once (status compare-and-set
    in the transaction of its ledger credit).

    Stars: `charge_id` is Telegram's `telegram_payment_charge_id` (the credit's key; an invoice paid
    twice gives a second row, `parent_id` pointing at the first). Crypto Pay: `invoice_id` is the
    provider's invoice (the credit's key). Manual: the receipt, and who decided.
    """

    __tablename__ = "topups"
    __table_args__ = (Index("ix_topups_method_status", "method", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    method: Mapped[str] = mapped_column(String(16))
    manual_method_id: Mapped[int | None] = mapped_column(ForeignKey("topup_methods.id"))
    status: Mapped[str] = mapped_column(String(16), default=TopUpStatus.PENDING, index=True)
    amount: Mapped[Decimal] = mapped_column(Money)  # in the shop currency: what the wallet gets
    currency: Mapped[str] = mapped_column(String(8))
    token: Mapped[str] = mapped_column(String(32))  # random; with the id it makes the invoice payload
    stars: Mapped[int | None] = mapped_column(Integer)  # the price of a Stars invoice
    invoice_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    pay_url: Mapped[str | None] = mapped_column(Text)
    charge_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    provider_charge_id: Mapped[str | None] = mapped_column(String(255))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("topups.id"))
    # What the provider took, in the shop currency when it can be known, and its own words for it.
    fee: Mapped[Decimal | None] = mapped_column(Money)
    fee_note: Mapped[str | None] = mapped_column(String(64))
    paid_note: Mapped[str | None] = mapped_column(String(64))  # e.g. "12.5 USDT"
    receipt_kind: Mapped[str | None] = mapped_column(String(16))  # text, photo, document
    receipt_text: Mapped[str | None] = mapped_column(Text)
    receipt_file_id: Mapped[str | None] = mapped_column(String(256))
    # Manual: the copies sent to the admins, {"admin id": [message id, "photo" | "text" ...]}.
    admin_messages: Mapped[dict[str, Any]] = mapped_column(default=dict)
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    refund_attempt: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    expires_at: Mapped[datetime | None] = mapped_column()
    paid_at: Mapped[datetime | None] = mapped_column(index=True)
    decided_at: Mapped[datetime | None] = mapped_column()
    refunded_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ManualPaymentMethod(Base):
    """A payment method the owner runs by hand (bank card, a local wallet, a crypto address).

    `names` and `instructions` map a language code (bot/i18n.py LANGUAGES) to the text customers
    of that language read; instructions are Telegram HTML.
    """

    __tablename__ = "topup_methods"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    names: Mapped[dict[str, Any]] = mapped_column(default=dict)
    instructions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- what the upstream panel supports (bot/panel/capabilities.py) ----------------------------------


class PanelCapability(Base):
    """What one panel (by its API URL) was seen to support, so the bot asks it the right way.

    Each flag is None until known: `bulk_status` becomes False when the panel refuses the
    `orders=1,2,3` form (the bot then asks `order=` one id at a time), True when it answered it.
    `currency` is the one its `balance` reports. `panel` is a digest of the URL (the URL itself,
    without query or credentials, is in `url` for the admins).
    """

    __tablename__ = "panel_capabilities"

    panel: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(Text, default="")
    bulk_status: Mapped[bool | None] = mapped_column(Boolean)
    refill: Mapped[bool | None] = mapped_column(Boolean)
    cancel: Mapped[bool | None] = mapped_column(Boolean)
    dripfeed: Mapped[bool | None] = mapped_column(Boolean)
    currency: Mapped[str | None] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


# --- growth: promo codes, referrals, support, notice settings (bot/services/growth) ---------------


class PromoKind(StrEnum):
    CREDIT = "credit"  # a fixed amount credited at once
    BONUS = "bonus"  # a percent of the customer's next top-up


class PromoCode(Base):
    """A code customers redeem. `uses` only grows through one conditional UPDATE that checks
    `max_uses`, so racing customers never redeem more than allowed."""

    __tablename__ = "promo_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # upper case
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Money)  # CREDIT: the amount; BONUS: the percent
    min_topup: Mapped[Decimal | None] = mapped_column(Money)
    max_uses: Mapped[int | None] = mapped_column(Integer)  # None: unlimited
    per_user: Mapped[int] = mapped_column(Integer, default=1)
    uses: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime | None] = mapped_column()
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PromoRedemption(Base):
    """One use of a code by a customer; (code, user, n) is unique, n counting that customer's uses.

    A BONUS redemption waits (`applied_at` empty) until the customer's next qualifying top-up.
    """

    __tablename__ = "promo_redemptions"
    __table_args__ = (
        UniqueConstraint("promo_id", "user_id", "n", name="uq_promo_redemptions_use"),
        Index("ix_promo_redemptions_waiting", "user_id", "applied_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    promo_id: Mapped[int] = mapped_column(ForeignKey("promo_codes.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    n: Mapped[int] = mapped_column(Integer, default=1)
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal | None] = mapped_column(Money)  # what was credited
    topup_id: Mapped[int | None] = mapped_column(ForeignKey("topups.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    applied_at: Mapped[datetime | None] = mapped_column()


class Referral(Base):
    """A customer's referral code (for their link) and who referred them, bound at most once."""

    __tablename__ = "referrals"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    referrer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    bound_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReferralEarning(Base):
    """What a referrer earned on one order of their referee, and how much of it went back on refunds."""

    __tablename__ = "referral_earnings"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True, autoincrement=False)
    referrer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    referee_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    percent: Mapped[Decimal] = mapped_column(DecimalText)
    base: Mapped[Decimal] = mapped_column(Money)  # the order's price it was computed on
    earned: Mapped[Decimal] = mapped_column(Money)
    reversed: Mapped[Decimal] = mapped_column(Money, default=Decimal("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketStatus(StrEnum):
    OPEN = "open"  # the customer wrote last
    ANSWERED = "answered"  # an admin replied last
    CLOSED = "closed"


class SupportTicket(Base):
    """A support conversation; the first admin to reply takes it (`taken_by`, compare-and-set)."""

    __tablename__ = "support_tickets"
    __table_args__ = (Index("ix_support_tickets_user_status", "user_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.OPEN, index=True)
    taken_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()


class SupportMessage(Base):
    """One message of a ticket. `admin_messages`: the copies sent to admins, {"admin id": [id, kind]}."""

    __tablename__ = "support_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("support_tickets.id"), index=True)
    author_id: Mapped[int] = mapped_column(BigInteger)
    from_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str] = mapped_column(String(16))  # text, photo, document
    text: Mapped[str | None] = mapped_column(Text)
    file_id: Mapped[str | None] = mapped_column(String(256))
    admin_messages: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NoticeLevel(StrEnum):
    ALL = "all"  # every status change
    FINAL = "final"  # only completion and refunds


class CustomerPrefs(Base):
    """A customer's choices beyond the language (which order notices they get)."""

    __tablename__ = "customer_prefs"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, autoincrement=False)
    notices: Mapped[str] = mapped_column(String(16), default=NoticeLevel.ALL)
