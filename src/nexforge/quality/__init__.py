"""The quality cascade: verdicts on stored rollouts, and the policy exports apply."""
