"""``python -m app`` is ``starboard``."""

from app.cli import main

main()
