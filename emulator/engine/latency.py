"""How long things take: cold starts, time to first token, decode speed (latency.md section 6)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from emulator.config import LatencyClass


@dataclass(frozen=True)
class Timing:
    ttft_s: float  # from service start to the first output token
    token_interval_s: float  # between output tokens


class LatencyModel:
    def __init__(self, params: LatencyClass) -> None:
        self.p = params
        self._cold_mu = math.log(params.cold_start_median_s) if params.cold_start_median_s > 0 else None

    def cold_start(self, rng: random.Random) -> float:
        """Warm-pool restore time of a new container: LogNormal(ln median, sigma)."""
        if self._cold_mu is None:
            return 0.0
        return rng.lognormvariate(self._cold_mu, self.p.cold_start_sigma)

    def draw(self, rng: random.Random, input_tokens: int, concurrent: int) -> Timing:
        """Per-request timing: jittered base overhead plus prefill, and a decode rate that slows
        a little with the container's concurrency (ITL = ITL1 * (1 + alpha * (c - 1)))."""
        p = self.p
        ttft = p.ttft_base_s * rng.lognormvariate(0.0, p.ttft_sigma)
        ttft += input_tokens * p.prefill_ms_per_token / 1000.0
        rate = p.decode_tokens_per_s * rng.lognormvariate(0.0, p.decode_sigma)
        interval = (1.0 / rate) * (1.0 + p.fleet_alpha * max(0, concurrent - 1))
        return Timing(ttft, interval)
