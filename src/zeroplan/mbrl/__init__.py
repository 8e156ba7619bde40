"""Learned dynamics + model-predictive control (PETS) for continuous actions."""
