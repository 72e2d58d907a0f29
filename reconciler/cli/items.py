"""`orch items from-gh|from-glab`: a WorkerSet items file from an issue tracker."""

from __future__ import annotations

from typing import Annotated

import typer

from reconciler.cli.runner import run

EPILOG = """\
Examples:

  orch items from-gh --repo acme/shop --label agent > config/issues.yaml

  orch items from-glab --project acme/shop > config/issues.yaml

Each item has number, title, body, labels and url. A WorkerSet names the file
(items: config/issues.yaml) and its templates use them, e.g.
nameTemplate: "issue-{{ item.number }}", and a prompt sees {{ item.body }}.
The tracker is read once, now; commit the file and the workers start.
"""

commands = typer.Typer()
items_app = typer.Typer(
    help="Write a WorkerSet items file from an issue tracker (gh or glab).",
    epilog=EPILOG,
    no_args_is_help=True,
)
commands.add_typer(items_app, name="items")

LabelOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--label",
        help="Only issues with this label (repeat for all of several).",
        show_default=False,
    ),
]
MilestoneOpt = Annotated[
    str | None,
    typer.Option("--milestone", help="Only issues of this milestone.", show_default=False),
]
RepoOpt = Annotated[
    str, typer.Option("--repo", help="The GitHub repo, OWNER/NAME.", show_default=False)
]
ProjectOpt = Annotated[
    str, typer.Option("--project", help="The GitLab project, GROUP/NAME.", show_default=False)
]
LimitOpt = Annotated[int, typer.Option("--limit", help="At most this many issues.", min=1)]


@items_app.command("from-gh", epilog=EPILOG)
def from_gh(
    repo: RepoOpt,
    label: LabelOpt = None,
    milestone: MilestoneOpt = None,
    limit: LimitOpt = 100,
) -> None:
    """Print the open issues of a GitHub repo as a WorkerSet items file (runs `gh issue list`)."""
    from reconciler.loop.tracker_items import fetch_items

    typer.echo(run(lambda: fetch_items("gh", repo, label or [], milestone, limit)), nl=False)


@items_app.command("from-glab", epilog=EPILOG)
def from_glab(
    project: ProjectOpt,
    label: LabelOpt = None,
    milestone: MilestoneOpt = None,
    limit: LimitOpt = 100,
) -> None:
    """Print the open issues of a GitLab project as a WorkerSet items file (`glab issue list`)."""
    from reconciler.loop.tracker_items import fetch_items

    typer.echo(run(lambda: fetch_items("glab", project, label or [], milestone, limit)), nl=False)
