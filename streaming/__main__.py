"""`python -m streaming` (or `spark-submit streaming/__main__.py`): see `--help`."""
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file by spark-submit
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streaming.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
