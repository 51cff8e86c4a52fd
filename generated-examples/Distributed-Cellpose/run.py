"""Distributed-Something's entry point: `python run.py --help` lists the commands."""

from ds_runtime.entry import main

raise SystemExit(main())
