"""dsgen: generate Distributed-X repositories from a few answers about a Dockerized tool."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dsgen")
except PackageNotFoundError:  # running from a checkout without installing
    __version__ = "0+unknown"
