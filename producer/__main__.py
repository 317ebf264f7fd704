"""`python -m producer <command>`: see `python -m producer --help`."""
from producer.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
