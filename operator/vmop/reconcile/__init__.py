"""Pure decisions: from what is declared and what is observed, the calls to make and the status
to show. No I/O here, so every rule of the compute API doc is testable without a cluster."""
