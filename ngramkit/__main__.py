"""``python -m ngramkit``: the command line, the same as the ``ngramkit`` console script.

The click front end lives in ``ngramkit.cli``; the library modules never import click.
"""

from ngramkit.cli.main import main

if __name__ == "__main__":
    main()
