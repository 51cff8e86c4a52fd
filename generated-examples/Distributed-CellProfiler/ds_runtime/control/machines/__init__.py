"""The machines a run asks for: the Fleet file, the EC2 Fleet made from it, machine types,
prices, quotas and how many machines to keep."""
