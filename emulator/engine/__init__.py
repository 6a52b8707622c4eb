"""The simulation engine: clocks, admission, container fleets, latency, output and the ledger."""
