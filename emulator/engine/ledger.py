"""One record per attempt: what was asked, what happened, what it cost, how long it took."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class LedgerRecord:
    request_id: str
    sequence: int
    time: float  # unix time the attempt arrived (simulated)
    model_id: str  # as the caller named it
    resolved_model: str  # catalogue model it ran on
    operation: str
    outcome: str = "pending"  # "ok", or the error code
    cold: bool = False
    cold_start_s: float = 0.0
    queue_s: float = 0.0
    ttft_s: float = 0.0
    latency_s: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    stop_reason: str | None = None
    streamed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Ledger:
    def __init__(self) -> None:
        self._records: list[LedgerRecord] = []
        self._lock = threading.Lock()

    def append(self, record: LedgerRecord) -> LedgerRecord:
        with self._lock:
            self._records.append(record)
        return record

    @property
    def records(self) -> list[LedgerRecord]:
        with self._lock:
            return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def to_dicts(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.records]

    def digest(self) -> str:
        """SHA-256 over the whole ledger: equal digests mean byte-for-byte equal runs."""
        blob = json.dumps(self.to_dicts(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def totals(self) -> dict[str, Any]:
        records = self.records
        by_outcome: dict[str, int] = {}
        for r in records:
            by_outcome[r.outcome] = by_outcome.get(r.outcome, 0) + 1
        return {
            "attempts": len(records),
            "outcomes": by_outcome,
            "cold_starts": sum(1 for r in records if r.cold),
            "input_tokens": sum(r.input_tokens for r in records),
            "output_tokens": sum(r.output_tokens for r in records),
            "cost_usd": round(sum(r.cost_usd for r in records), 9),
        }
