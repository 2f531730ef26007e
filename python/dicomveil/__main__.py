"""``python -m dicomveil``: the ``dicomveil`` command."""

from .cli import main

main(prog_name="dicomveil")
