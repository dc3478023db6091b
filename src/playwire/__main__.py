"""``python -m playwire``: the same as the ``playwire`` command."""

from playwire.cli import main

raise SystemExit(main())
