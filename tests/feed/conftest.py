"""The feed tests use the shared `videos` and `published` fixtures of tests/conftest.py."""
