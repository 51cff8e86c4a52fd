"""Distributed-Something's entry point: `python run.py --help` lists the commands."""

from ds_runtime.control.cli import main

raise SystemExit(main())
