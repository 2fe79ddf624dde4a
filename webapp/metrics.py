"""Prometheus metrics of the console, in a registry of its own (one per app)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ledger.core.codes import validation_code_name


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "gridledger_console_http_requests", "HTTP requests served", ["method", "route", "status"], registry=self.registry
        )
        self.http_latency = Histogram(
            "gridledger_console_http_request_seconds", "HTTP request latency", ["method"], registry=self.registry
        )
        self.queue_depth = Gauge("gridledger_review_queue_depth", "Requests waiting for review", registry=self.registry)
        self.awaiting_acceptance = Gauge(
            "gridledger_requests_awaiting_acceptance", "Transfers waiting for the other party", registry=self.registry
        )
        self.decision_latency = Histogram(
            "gridledger_review_decision_seconds",
            "Time from request to decision",
            ["decision"],
            buckets=(1, 5, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 7 * 24 * 3600),
            registry=self.registry,
        )
        self.decisions = Counter("gridledger_review_decisions", "Review decisions", ["decision"], registry=self.registry)
        self.transactions = Counter(
            "gridledger_console_transactions", "Transactions submitted by the console, by outcome code", ["code"], registry=self.registry
        )
        self.ledger_transactions = Counter(
            "gridledger_ledger_transactions",
            "Transactions committed on the ledger (whoever submitted them), by validation code",
            ["code"],
            registry=self.registry,
        )
        self.ledger_height = Gauge("gridledger_ledger_height", "Highest block height among the peers", registry=self.registry)
        self.peer_height = Gauge("gridledger_peer_height", "Block height per peer", ["peer"], registry=self.registry)

    def count_commit(self, codes: bytes) -> None:
        """Commit listener: one increment per transaction of a committed block (its flags)."""
        for code in codes:
            self.ledger_transactions.labels(validation_code_name(code)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
