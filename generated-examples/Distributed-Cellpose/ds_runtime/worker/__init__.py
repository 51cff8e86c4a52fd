"""The worker: runs inside each container, takes jobs from the queue and runs the tool."""
