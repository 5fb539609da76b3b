"""triage: what a customer complains about, whether the author is a troll, and what to reply."""

__version__ = "0.1.0"
