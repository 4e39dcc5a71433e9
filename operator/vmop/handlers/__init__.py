"""kopf wiring only: which events call which controller; no business rules here."""
