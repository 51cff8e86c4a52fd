"""The AWS resources a run creates besides its machines, found and deleted through one catalogue;
the IAM roles, the auto-monitor, the dashboard, the log export and teardown."""
