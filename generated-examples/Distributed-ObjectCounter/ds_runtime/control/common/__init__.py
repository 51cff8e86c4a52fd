"""What every room of control/ uses: the command context, asking before spending, waiting,
leases on queue messages, batched sends and the run record."""
