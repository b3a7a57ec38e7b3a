"""Allow ``python -m bee_trace``."""

from bee_trace.cli import main

raise SystemExit(main())
