"""The ``ngramkit`` command group: each command lives in its own module."""

from __future__ import annotations

import sys

import click

from ngramkit import __version__
from ngramkit.errors import NgramkitError


class Group(click.Group):
    """Turns library errors into one-line messages and exit code 1 (no traceback)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except NgramkitError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            sys.stderr.close()
            ctx.exit(1)
        except MemoryError:
            click.echo("Error: out of memory; try a smaller --order or split the input", err=True)
            ctx.exit(1)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ngramkit")
def cli():
    """Count, smooth, fit, measure and compare language models."""


def _register():
    from . import compare, corpus, count, generate, ppl, train, zipf

    for command in (count.count, corpus.corpus, zipf.zipf, train.train, ppl.ppl,
                    generate.generate, compare.compare):
        cli.add_command(command)


_register()


def main():
    cli(prog_name="ngramkit")


if __name__ == "__main__":
    main()
