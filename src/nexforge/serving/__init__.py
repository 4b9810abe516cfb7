"""Serve any NexForge Model over an OpenAI-compatible HTTP API."""

from nexforge.serving.openai_server import OpenAIServer, is_loopback

__all__ = ["OpenAIServer", "is_loopback"]
