import sys

# A rule's job goes to the workflow's job server before the command line is imported: the client stays light.
from repro.jobclient import run_here, serve_this_process

served = serve_this_process()
if served is not None:
    sys.exit(served)
run_here()  # started with -S (the rules' command): from here on the environment's packages are needed

from repro.cli import main  # noqa: E402

sys.exit(main(server=False))
