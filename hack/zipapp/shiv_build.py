"""Run shiv with kubedtn's launcher as the archive's __main__.py.

    python hack/zipapp/shiv_build.py SHIV_ARGS...

shiv writes a two-line __main__.py from a template (builder.MAIN_TEMPLATE) that calls its
bootstrap; this swaps in hack/zipapp/launcher.py (see its header for why) and then runs
shiv's command line with the given arguments. The launcher is told which Python the
archive is built for (this interpreter's major.minor: the wheels inside are for it).
"""

import sys
from pathlib import Path

import shiv.builder
import shiv.cli

PLACEHOLDER = "BUILT_FOR = (0, 0)"


def launcher_source() -> str:
    source = (Path(__file__).parent / "launcher.py").read_text()
    if source.count(PLACEHOLDER) != 1:
        raise SystemExit(f"shiv_build: launcher.py must contain {PLACEHOLDER!r} exactly once")
    return source.replace(PLACEHOLDER, f"BUILT_FOR = {tuple(sys.version_info[:2])!r}")


def main() -> None:
    # shiv formats the template with module=/fn=; doubled braces come out as the source.
    shiv.builder.MAIN_TEMPLATE = launcher_source().replace("{", "{{").replace("}", "}}")
    shiv.cli.main.main(args=sys.argv[1:], prog_name="shiv")


if __name__ == "__main__":
    main()
