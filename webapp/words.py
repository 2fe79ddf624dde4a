"""Statuses and kinds of requests in words, for people (templates use them as filters)."""

from __future__ import annotations

STATUS_WORDS = {
    "awaiting_acceptance": "waiting for the other party to accept and sign",
    "pending": "waiting for an administrator's review",
    "approved": "approved; being sent to the ledger",
    "submitted": "sent to the ledger; its commit is being confirmed by transaction id (do not make it again)",
    "committed": "committed to the ledger",
    "failed": "refused by the ledger; nothing changed",
    "rejected": "rejected by an administrator; nothing changed",
    "expired": "not decided in time; nothing changed",
}

KIND_WORDS = {
    "register": "account opening",
    "topup": "top-up",
    "delete": "account closing",
    "enroll": "publication",
    "purchase": "purchase",
    "transfer": "transfer between holders",
    "cancel": "withdrawal from sale",
    "report": "re-publication report",
}


def status_words(status: str) -> str:
    return STATUS_WORDS.get(status, status.replace("_", " "))


def kind_words(kind: str) -> str:
    return KIND_WORDS.get(kind, kind)
