"""`python -m bot` is the same as the `minyi` command."""

from bot.cli import main

raise SystemExit(main())
