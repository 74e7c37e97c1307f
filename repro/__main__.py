import sys

# A rule's job goes to the workflow's job server before the command line is imported: the client stays light.
from repro.jobserver import serve_this_process

served = serve_this_process()
if served is not None:
    sys.exit(served)

from repro.cli import main  # noqa: E402

sys.exit(main(server=False))
