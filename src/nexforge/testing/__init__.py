"""Test doubles at the model boundary, public so users test their agents as we test ours."""

from nexforge.testing.mock_server import FAULT_KINDS, MockOpenAIServer, MockReply
from nexforge.testing.scripted import ScriptedModel, call, calls, say

__all__ = ["FAULT_KINDS", "MockOpenAIServer", "MockReply", "ScriptedModel", "call", "calls", "say"]
