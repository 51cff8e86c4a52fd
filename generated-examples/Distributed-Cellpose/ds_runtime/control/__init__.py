"""The control plane: the run.py commands a user runs on their own machine."""
