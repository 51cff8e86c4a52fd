# DistributedCellpose settings: edit this file, then run `python run.py setup`.
# Plain Python. Every value is checked when a command starts; a wrong one is
# reported with the key and the fix before anything is created in AWS.
# True/False may also be written as 'True'/'False'.

# ---------------------------------------------------------------- the app
APP_NAME = "DistributedCellpose"  # names the queue, cluster service, logs and dashboard
# The worker image built from this repository's Dockerfile, pushed where your account can pull it.
DOCKERHUB_TAG = "distributed-cellpose:latest"

# ---------------------------------------------------------------- your AWS account
AWS_REGION = "us-east-1"  # where everything runs; keep your bucket in the same region
AWS_PROFILE = None  # a profile of ~/.aws (aws configure list-profiles), or None for your default credentials
SSH_KEY_NAME = ""  # a key pair (e.g. 'my-key.pem'): the Fleet file's KeyName if it exists; "" keeps the file's
AWS_BUCKET = "your-bucket-name"  # the S3 bucket holding inputs and outputs (name only, no s3://)

# ---------------------------------------------------------------- machines (EC2 spot fleet)
ECS_CLUSTER = "default"  # the ECS cluster to use; 'default' is never deleted
CLUSTER_MACHINES = 2  # how many machines to ask for
TASKS_PER_MACHINE = 1  # containers per machine
MACHINE_TYPE = ["g4dn.xlarge"]  # EC2 types; the fleet takes whichever is cheapest
MACHINE_PRICE = 0.3  # the most you pay per machine-hour, in US dollars
EBS_VOL_SIZE = 60  # disk per machine in GB (at least 22)
ASSIGN_IP = True  # False: no public IP, whatever the Fleet file says; True: as the Fleet file says
MACHINE_IDLE_SECONDS = 120  # a machine running no job this long, while none waits, is released
# On-demand fallback: after this many interrupted jobs, or once spot capacity runs out, monitor starts
# on-demand machines (dearer, never interrupted) for the missing spot ones, up to CLUSTER_MACHINES. 0 = never.
ON_DEMAND_AFTER_INTERRUPTIONS = 0

# ---------------------------------------------------------------- each container (ECS task)
DOCKER_CORES = 1  # jobs run side by side in one container
CPU_SHARES = 4096  # CPU units per container: 1024 = one vCPU
MEMORY = 15000  # memory per container, in MB
SECONDS_TO_START = 0  # seconds between starting each of DOCKER_CORES workers

# ---------------------------------------------------------------- the job queue (SQS)
SQS_QUEUE_NAME = APP_NAME + "Queue"
SQS_MESSAGE_VISIBILITY = 3600  # seconds a job may run before it is offered again (at most 43200 = 12 h)
SQS_DEAD_LETTER_QUEUE = APP_NAME + "DeadMessages"  # where jobs go after failing JOB_RETRIES times
JOB_RETRIES = 3  # tries per job before it is dead-lettered
JOB_TIMEOUT = None  # seconds one job may run before it is stopped and counted as failed; None: no limit

# ---------------------------------------------------------------- logs and monitoring
LOG_GROUP_NAME = APP_NAME  # the CloudWatch log group of the jobs' logs
AUTO_MONITOR = False  # True: tear down by itself (an AWS Lambda) when the queue stays empty
CREATE_DASHBOARD = True  # a CloudWatch dashboard of jobs, machines, memory and errors
CLEAN_DASHBOARD = True  # remove that dashboard at the end

# ---------------------------------------------------------------- spending caps (0 = no cap)
# When a cap is reached the machines are stopped and the run is torn down, with the reason
# printed. `monitor` checks them while it runs; with AUTO_MONITOR = True they are also checked
# every 5 minutes in AWS, so they hold even when your computer is off.
MAX_COST = 0  # the most a run may spend, in US dollars (machine-hours x spot price)
MAX_HOURS = 0  # the longest a run may last, in hours from startCluster

# ---------------------------------------------------------------- skip jobs already done
CHECK_IF_DONE_BOOL = False  # True: a job whose outputs are already in S3 is skipped
EXPECTED_NUMBER_FILES = 1  # ... at least this many output files
MIN_FILE_SIZE_BYTES = 1  # ... each at least this big
NECESSARY_STRING = ""  # ... and, if not "", only files whose name contains this count

# ---------------------------------------------------------------- Cellpose's own settings
# Cellpose's --pretrained_model: a built-in model (cpsam_v2, cpsam, cpdino, cpdino-vitb; cpsam_v2 is in the image) or a model file's path in the image
CELLPOSE_MODEL = "cpsam_v2"
