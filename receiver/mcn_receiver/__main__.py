"""`python -m mcn_receiver`: the same as the `mcn-receiver` command."""

from .cli import main

raise SystemExit(main())
