"""`make fuzz`: schemathesis against the live app (see run.py)."""
