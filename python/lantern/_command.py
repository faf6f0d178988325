"""The `lantern` command a wheel made by `make wheel` carries (lantern/bin/lantern, beside the
library and the Swift runtime it bundles)."""
import os
import sys
from pathlib import Path


def main() -> None:
    command = Path(__file__).resolve().parent / "bin" / "lantern"
    if not command.exists():
        sys.exit("lantern: this install has no lantern command (a wheel from `make wheel` carries one; "
                 "or build it with `make build`)")
    os.execv(str(command), [str(command)] + sys.argv[1:])
