"""Delivery: subscriptions, watches, the persisted outbox and the broadcast sender within Telegram's limits."""
