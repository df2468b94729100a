"""What users read: plain text and JSON for the terminal and CLI, Telegram HTML views with their keyboards, and the strict HTML checker."""
