"""The commands a user runs to set up, start, feed, watch and clean up a run (run.py COMMAND).

The commands that only read a run (status, report, estimate) are in views/."""
