"""The command-line jobs: each module has a ``main(argv)`` and a ``cli()`` console entry point;
``scripts/NAME.py`` runs the same ``main`` (``python scripts/NAME.py --help``)."""
