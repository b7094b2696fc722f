"""``python -m dasdsl``: the same as the ``dasdsl`` command."""

import os
import sys

# `python -m` puts the working directory first on sys.path; the `dasdsl` command does not. A folder that is
# not yours (someone's run directory, say) must not add or shadow modules: imports come from the installed
# paths and PYTHONPATH only, and plugins only as named with --plugin.
if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from dasdsl.cli import main  # noqa: E402 - after the path is cleaned

raise SystemExit(main())
