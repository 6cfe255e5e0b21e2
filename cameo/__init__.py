"""Cameos: verified likeness, permission levels, appearances, revocation, takedowns (see the cameo issue)."""
