"""The label set, as defined by labels/labeling-guide.md."""

LABELS: tuple[str, ...] = ("withdrawal", "retention", "cost_demand", "denial", "none")
"""Every stance label, in the guide's order of precedence (``none`` last)."""

PRECEDENCE: tuple[str, ...] = ("denial", "cost_demand", "withdrawal", "retention", "none")
"""When a sentence carries several stances, the first of these that applies wins."""
