"""Test doubles at the model boundary, public so users test their agents as we test ours."""

from nexforge.testing.mock_server import FAULT_KINDS, MockOpenAIServer, MockReply
from nexforge.testing.models import installed_model_or_skip
from nexforge.testing.scripted import ScriptedModel, call, calls, say

__all__ = [
    "FAULT_KINDS",
    "MockOpenAIServer",
    "MockReply",
    "ScriptedModel",
    "call",
    "calls",
    "installed_model_or_skip",
    "say",
]
