"""Evaluation: public benchmarks (BFCL, tau2) and NexForge's own environments, any model."""
