"""Local mode: the AWS APIs served by an embedded emulator (moto's server) on a loopback port.

`emulator.start_emulator()` runs it in this process; `python -m ds_runtime.local.emulator`
runs it as a background process that several run.py invocations share. `fast_sqs` removes
moto's per-call O(queue depth) work from SQS so that deep queues stay usable; `ec2_fleet`
adds ModifyFleet, which moto lacks and `monitor` resizes the run's EC2 Fleet with.
"""
