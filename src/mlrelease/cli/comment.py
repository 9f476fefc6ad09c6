"""``mlrelease comment``: the PR check's sticky comment, written to a file and posted when asked."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlrelease.cli.options import output_dir_option

if TYPE_CHECKING:
    from mlrelease.github import GitHubClient

_file = click.Path(dir_okay=False, path_type=Path)


@click.command()
@click.option(
    "--gate",
    "gate_path",
    type=click.Path(path_type=Path),
    default=None,
    help="gate.json, or the folder `mlrelease gate -o` wrote.",
)
@click.option(
    "--lint", "lint_path", type=_file, default=None, help="lint.json from `mlrelease lint --report`."
)
@click.option(
    "--lock", "lock_path", type=_file, default=None, help="The JSON `mlrelease lock --check --json` printed."
)
@click.option(
    "--image", "image_path", type=_file, default=None, help="The JSON `mlrelease test-image --json` printed."
)
@click.option(
    "--link",
    "links",
    multiple=True,
    metavar="TITLE=URL",
    help="A link under the comment (the run's job summary). Repeatable. "
    "Default inside Actions: this run, from GITHUB_SERVER_URL, GITHUB_REPOSITORY and GITHUB_RUN_ID.",
)
@output_dir_option("comment.md, the comment's body")
@click.option(
    "--pr",
    "number",
    type=click.IntRange(min=1),
    default=None,
    help="Pull request to post to, with the token in GITHUB_TOKEN. Without it the body is only written.",
)
@click.option("--repo", default=None, help="OWNER/NAME of the pull request. Default: GITHUB_REPOSITORY.")
@click.option(
    "--api-url",
    default=None,
    help="GitHub REST API root. Default: GITHUB_API_URL, else https://api.github.com.",
)
@click.option(
    "--from-run",
    "run_id",
    type=click.IntRange(min=1),
    default=None,
    help="Take the reports and the PR number from this workflow run's artifact (pr-check.yml's "
    "`mlrelease-pr-comment`), downloaded with GITHUB_TOKEN, instead of --gate/--lint/--lock/--image.",
)
@click.option(
    "--artifact",
    default=None,
    help="Name of the --from-run artifact. Default: mlrelease-pr-comment.",
)
@click.option(
    "--head-sha",
    envvar="MLRELEASE_HEAD_SHA",
    show_envvar=True,
    default=None,
    help="With --from-run (required there): the commit the run checked (workflow_run.head_sha). "
    "The comment goes only to the pull request whose head is that commit, whatever PR number the "
    "artifact names.",
)
def comment(
    gate_path: Path | None,
    lint_path: Path | None,
    lock_path: Path | None,
    image_path: Path | None,
    links: tuple[str, ...],
    out_dir: Path,
    number: int | None,
    repo: str | None,
    api_url: str | None,
    run_id: int | None,
    artifact: str | None,
    head_sha: str | None,
) -> None:
    """Render one PR comment from the step reports; with --pr, update it in place (or create it).

    The comment is found again by a hidden marker, so every push updates the same comment.
    With --from-run, the reports are a pull request's run's artifact, read as data only: the known
    report files and the PR number, nothing else. Exit 0 when written (and posted), 2 on bad input,
    3 when the API cannot be reached.
    """
    from mlrelease import github
    from mlrelease.artifacts import write_text
    from mlrelease.errors import EnvironmentUnavailable, UsageError
    from mlrelease.prcomment import ARTIFACT, MARKER, fetch_run_reports, load_reports, render

    link_map: dict[str, str] = {}
    for item in links:
        title, sep, url = item.partition("=")
        if not sep or not title or not url.startswith(("https://", "http://")):
            raise UsageError(f"--link {item}: expected TITLE=URL with an http(s) URL")
        link_map[title] = url
    env = os.environ
    if not link_map and all(env.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")):
        run = f"{env['GITHUB_SERVER_URL']}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
        link_map["job summary"] = run

    token = env.get("GITHUB_TOKEN", "")
    repo = repo or env.get("GITHUB_REPOSITORY", "")
    client = github.GitHubClient(token, api_url=api_url, env=env)
    if run_id is not None or number is not None:
        if not token:
            given = "--from-run" if run_id is not None else "--pr"
            raise UsageError(
                f"{given} given but GITHUB_TOKEN is empty", hint="pass the token in GITHUB_TOKEN"
            )
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise UsageError(
                f"--repo {repo!r}: expected OWNER/NAME", hint="pass --repo or set GITHUB_REPOSITORY"
            )
        github.mask(token)
    if run_id is not None:
        if any(p is not None for p in (gate_path, lint_path, lock_path, image_path)):
            raise UsageError(
                "--from-run takes the reports from the run's artifact; drop --gate/--lint/--lock/--image"
            )
        if not head_sha:
            raise UsageError(
                "--from-run needs --head-sha, the commit the run checked",
                hint="pass github.event.workflow_run.head_sha (env MLRELEASE_HEAD_SHA)",
            )
        name = artifact or ARTIFACT
        found = fetch_run_reports(client, repo, run_id, name, out_dir / "reports")
        gate_path, lint_path, lock_path, image_path = found.gate, found.lint, found.lock, found.image
        number = number or found.pr
        _check_head(client, repo, number, head_sha, run_id)
        click.echo(f"read the reports of run {run_id} ({name}) for {repo}#{number}", err=True)

    reports = load_reports(gate=gate_path, lint=lint_path, lock=lock_path, image=image_path, links=link_map)
    body = render(reports)
    target = out_dir / "comment.md"
    write_text(target, body)
    github.add_summary(body)
    github.set_output("body", str(target))
    github.set_output("blocked", "true" if reports.blocked_by else "false")
    click.echo(f"wrote {target}", err=True)
    if number is None:
        return

    try:
        action, posted = client.upsert_comment(repo, number, body, MARKER)
    except github.GitHubAPIError as exc:
        if exc.status == 0:
            raise EnvironmentUnavailable(
                f"posting the comment failed: {exc}", hint=f"the body is in {target}"
            ) from None
        hint = "the workflow posting the comment needs `pull-requests: write`"
        raise UsageError(f"posting the comment failed: {exc}", hint=hint) from None
    click.echo(f"{action} the comment on {repo}#{number}: {posted or ''}".rstrip(": "), err=True)


def _check_head(client: GitHubClient, repo: str, number: int | None, head_sha: str, run_id: int) -> None:
    """The artifact's PR number is the PR's own data, so a fork could name another PR: post only
    when that PR's head is the commit the run checked."""
    from mlrelease.errors import UsageError
    from mlrelease.github import GitHubAPIError

    if number is None:
        return
    try:
        actual = client.pull_head_sha(repo, number)
    except GitHubAPIError as exc:
        raise UsageError(f"reading {repo}#{number} failed: {exc}", hint="nothing was posted") from None
    if actual != head_sha:
        raise UsageError(
            f"the artifact of run {run_id} names {repo}#{number}, whose head is {actual[:12]}, "
            f"but the run checked {head_sha[:12]}",
            hint="a check run comments only on its own pull request; a newer push gets its own "
            "comment. Nothing was posted.",
        )
