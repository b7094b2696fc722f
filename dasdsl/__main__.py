"""``python -m dasdsl``: the same as the ``dasdsl`` command."""

from dasdsl.cli import main

raise SystemExit(main())
