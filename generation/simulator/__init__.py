"""A local stand-in for OpenAI's Sora 2 Videos API (and its text moderation endpoint), spoken to by
the unmodified `openai` SDK over HTTP.

Used when no OPENAI_API_KEY is set, and by tests to exercise failures the real API makes hard to
produce on demand (moderation, rate limits, timeouts, broken responses). See app.py for the routes,
policy.py for the words that trigger moderation, and state.py for the lifecycle.
"""

from generation.simulator.app import create_simulator_app
from generation.simulator.server import SimulatorHandle, run_simulator_in_thread, serve_simulator

__all__ = ["SimulatorHandle", "create_simulator_app", "run_simulator_in_thread", "serve_simulator"]
