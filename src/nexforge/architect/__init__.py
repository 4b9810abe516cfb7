"""The architect (the paper's NexA4A): one sentence -> a validated, runnable framework.

``build`` runs the stages (domain, seed rows, derived tools, query kit, hierarchy,
prompts, assembly) and the validation ladder (``ladder.check_framework``), repairing
what fails; ``from_config`` gives a hand-written framework a kit; ``diversity`` measures
how different generated frameworks are.
"""
