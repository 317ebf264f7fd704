"""Sub-commands of `python -m producer`, one module each."""
