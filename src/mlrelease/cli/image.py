"""``mlrelease build``, ``mlrelease test-image`` and ``mlrelease push``: the model's container image."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlrelease.cli.options import (
    base_image_option,
    config_option,
    evaluation_option,
    gpu_check_option,
    gpu_variant_option,
    image_json_option,
    image_json_output_option,
    image_registry_option,
    json_option,
)

if TYPE_CHECKING:
    from docker import DockerClient

    from mlrelease.image.build import EngineEvent
    from mlrelease.image.verify import ImageTestResult


def docker_client() -> DockerClient:
    """The engine's client, made here at the edge; exit 3 when no engine answers."""
    import docker

    from mlrelease.errors import EnvironmentUnavailable

    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except docker.errors.DockerException as exc:
        raise EnvironmentUnavailable(
            f"no Docker engine answers: {exc}",
            hint="start the engine (dockerd, Docker Desktop) or set DOCKER_HOST",
        ) from None
    return client


@contextmanager
def progress(title: str) -> Iterator[Callable[[EngineEvent], None]]:
    """An event sink: a live status line on a TTY, plain lines on stderr otherwise."""
    if sys.stderr.isatty():
        from mlrelease import terminal

        console = terminal.console(stderr=True)
        with console.status(title) as status:

            def show(event: EngineEvent) -> None:
                text = str(event.get("stream") or event.get("status") or "").strip()
                if text.startswith("Step ") or event.get("status"):
                    status.update(f"{title}: {text[:100]}")

            yield show
    else:

        def show(event: EngineEvent) -> None:
            if event.get("progressDetail"):  # per-layer byte counts: noise in a log
                return
            text = str(event.get("stream") or "").rstrip()
            if not text and event.get("status"):
                text = " ".join(str(event.get(k, "")) for k in ("id", "status") if event.get(k))
            if text.strip():
                click.echo(text, err=True)

        yield show


@click.command()
@config_option
@evaluation_option("Output folder of `mlrelease evaluate` (signature.json, metrics.json). Needed to build.")
@base_image_option
@gpu_variant_option
@click.option("--tag", default=None, help="Local tag. Default: <model name>:<model.version or git revision>.")
@click.option(
    "--wheelhouse",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder that caches the downloaded wheels. Default: ~/.cache/mlrelease/wheelhouse.",
)
@click.option(
    "--mlrelease-wheel",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="MLRELEASE_WHEEL",
    help="A wheel of mlrelease to install (actions/setup sets MLRELEASE_WHEEL to the one it "
    "installed). Default: built from the source tree mlrelease runs from.",
)
@click.option("--no-cache", is_flag=True, help="Build every layer again.")
@click.option("--print-dockerfile", is_flag=True, help="Print the Dockerfile and exit; builds nothing.")
@image_json_output_option
@json_option
def build(
    config_path: str | None,
    evaluation: Path | None,
    base_image: str | None,
    gpu: bool | None,
    tag: str | None,
    wheelhouse: Path | None,
    mlrelease_wheel: Path | None,
    no_cache: bool,
    print_dockerfile: bool,
    output: Path,
    as_json: bool,
) -> None:
    """Build the model's image: locked wheels from the host, the model, the server; writes image.json."""
    from mlrelease import config as cfgmod
    from mlrelease import github
    from mlrelease.errors import UsageError
    from mlrelease.image import build as image_build
    from mlrelease.image import context

    cfg = cfgmod.load(config_path)
    plan = context.plan(cfg, base_image=base_image, gpu=gpu, evaluation=evaluation, tag=tag)
    click.echo(plan.runtime.describe(), err=True)
    if print_dockerfile:
        if plan.spec.runtime == "compiled":  # the build-only packages come from the wheels' metadata
            from mlrelease.image import wheelhouse as wheels

            found = wheels.download(plan.lock, python=plan.spec.python, cache=wheelhouse)
            plan = context.resolve_build_only(plan, found.files)
        click.echo(plan.dockerfile(), nl=False)
        return
    if evaluation is None:
        raise UsageError(
            "build needs the model's signature.json (the server inside checks requests against it)",
            hint="run `mlrelease evaluate -o DIR` and pass --evaluation DIR",
        )
    client = docker_client()
    with progress(f"building {plan.tag}") as show:
        record = image_build.build_image(
            client,
            plan,
            wheel_cache=wheelhouse,
            mlrelease_wheel=mlrelease_wheel,
            nocache=no_cache,
            on_event=show,
        )
    record.write(output)
    github.set_output("image", record.reference)
    github.set_output("image-id", record.image_id)
    github.set_output("image-json", str(output))
    github.add_summary(
        f"### Image `{record.reference}`\n\n{record.size_bytes / 1e6:.0f} MB, base `{record.base_image}`, "
        f"content `{(record.content_sha256 or '')[:12]}`; {plan.runtime.describe()}"
    )
    if as_json:
        click.echo(json.dumps(record.to_json(), indent=2, sort_keys=True))
    else:
        click.echo(
            f"built {record.reference} ({record.image_id[:19]}, {record.size_bytes / 1e6:.0f} MB); "
            f"content sha256 {(record.content_sha256 or '')[:12]}; wrote {output}"
        )


@click.command("test-image")
@config_option
@image_json_option
@click.option(
    "--image", "image_ref", default=None, help="Image to test. Default: the reference in image.json."
)
@click.option(
    "--golden",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="golden.parquet from `mlrelease evaluate`. Default: EVALUATION/golden.parquet.",
)
@evaluation_option("Output folder of `mlrelease evaluate`.")
@click.option(
    "--rtol", type=click.FloatRange(min=0), default=1e-7, show_default=True, help="Relative tolerance."
)
@click.option(
    "--atol", type=click.FloatRange(min=0), default=0.0, show_default=True, help="Absolute tolerance."
)
@gpu_check_option
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=180,
    show_default=True,
    help="Seconds to wait for health.",
)
@json_option
def test_image(
    config_path: str | None,
    image_json: Path,
    image_ref: str | None,
    golden: Path | None,
    evaluation: Path | None,
    rtol: float,
    atol: float,
    gpu: bool,
    timeout: float,
    as_json: bool,
) -> None:
    """Run the image without network, read-only, as non-root; compare predictions and packages."""
    from mlrelease import config as cfgmod
    from mlrelease import findings, github
    from mlrelease.errors import UsageError
    from mlrelease.image.container import run_image_test
    from mlrelease.image.context import lock_for
    from mlrelease.image.lockfile import read_lock
    from mlrelease.image.record import ImageRecord
    from mlrelease.image.verify import Tolerance

    cfg = cfgmod.load(config_path)
    if golden is None:
        if evaluation is None:
            raise UsageError("no golden predictions given", hint="pass --golden FILE or --evaluation DIR")
        golden = evaluation / "golden.parquet"
    if not golden.is_file():
        raise UsageError(f"{golden}: no such file", hint="run `mlrelease evaluate -o DIR` first")
    record: ImageRecord | None = None
    if image_ref:
        reference = image_ref
    else:
        record = ImageRecord.read(image_json)
        reference = record.reference
    lock = read_lock(lock_for(cfg, gpu or (record.gpu if record else cfg.image.gpu)))
    client = docker_client()
    result = run_image_test(
        client,
        reference,
        golden=golden,
        lock=lock,
        port=cfg.serving.port,
        tol=Tolerance(rtol=rtol, atol=atol),
        gpu=gpu,
        timeout=timeout,
    )
    github.set_output("ok", "true" if result.ok else "false")
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, sort_keys=True, default=str))
    else:
        _render_test(result)
    found = result.findings()
    findings.annotate(found, title_prefix="test-image: ")
    if found:
        summary = _failure_summary(result)
        github.add_summary(
            findings.summary_markdown(
                found, title=f"Image test failed: `{reference}`", failed=True, line=summary
            )
        )
        findings.raise_if_failed(
            found, "error", f"image {reference} does not reproduce the golden run: {summary}"
        )
        return
    github.add_summary(
        f"### Image test passed: `{reference}`\n\n{result.rows} golden rows, {result.packages} packages"
    )


def _failure_summary(result: ImageTestResult) -> str:
    parts = []
    if result.row_diffs:
        rows = len({str(d.row_id) for d in result.row_diffs})
        what = "predictions or class probabilities" if result.classes else "predictions"
        parts.append(f"{what} differ in {rows} of {result.rows} golden rows")
    if result.package_diffs:
        parts.append(f"{len(result.package_diffs)} packages differ from the lock")
    if result.gpu is not None and not result.gpu.ok:
        parts.append("; ".join(result.gpu.problems()))
    return ", ".join(parts)


def _render_test(result: ImageTestResult) -> None:
    say = click.echo
    say(
        f"{result.reference}: healthy after {result.seconds_to_healthy:.1f}s, "
        f"no network, read-only, uid {result.uid}"
    )
    if result.row_diffs:
        rows = len({str(d.row_id) for d in result.row_diffs})
        say(f"predictions: {rows} of {result.rows} rows differ (rtol={result.rtol:g}, atol={result.atol:g})")
        say(f"  {'row_id':>12}  {'output':>14}  {'golden':>22}  {'image':>22}")
        for diff in result.row_diffs[:20]:
            say(f"  {diff.row_id!s:>12}  {diff.output:>14}  {diff.expected!s:>22}  {diff.got!s:>22}")
        if len(result.row_diffs) > 20:
            say(f"  ... and {len(result.row_diffs) - 20} more (--json lists all)")
    else:
        say(f"predictions: all {result.rows} golden rows match (max |diff| {result.max_abs_diff:.3g})")
        if result.classes:
            say(
                f"probabilities: all {result.rows} x {result.classes} match "
                f"(max |diff| {result.max_proba_diff:.3g})"
            )
    if result.package_diffs:
        say(f"packages: {len(result.package_diffs)} differ from the lock")
        for pkg in result.package_diffs:
            note = "  (named build-only by the image)" if pkg.build_only else ""
            say(f"  {pkg.name:<32} locked {pkg.locked or '-':<16} installed {pkg.installed or '-'}{note}")
    elif result.build_only:
        say(
            f"packages: the image holds exactly the {result.packages - 1} locked packages (+ mlrelease) "
            f"less the {len(result.build_only)} build-only ones its label names: "
            + ", ".join(result.build_only)
        )
    else:
        say(f"packages: the image holds exactly the {result.packages - 1} locked packages (+ mlrelease)")
    if result.gpu is not None:
        if result.gpu.ok:
            say(
                f"gpu: {result.gpu.nvidia_smi}; "
                f"torch {result.gpu.torch or '-'} cuda={result.gpu.cuda_available}"
            )
        else:
            for problem in result.gpu.problems():
                say(f"gpu: {problem}")


@click.command()
@config_option
@image_json_option
@image_registry_option
@json_option
def push(config_path: str | None, image_json: Path, registry: str | None, as_json: bool) -> None:
    """Push the built image; credentials from the env or the Docker config; records the digest."""
    from mlrelease import config as cfgmod
    from mlrelease import github
    from mlrelease.image.push import push_image
    from mlrelease.image.record import ImageRecord

    record = ImageRecord.read(image_json)
    if registry is None:
        registry = cfgmod.load(config_path).image.registry
    client = docker_client()
    with progress(f"pushing {record.reference}") as show:
        pushed = push_image(client, record, registry, on_event=show)
    pushed.write(image_json)
    github.set_output("digest", pushed.digest or "")
    github.set_output("pushed-image", pushed.repo_digest or "")  # not "image": build writes that one
    github.add_summary(f"### Pushed `{pushed.repo_digest}`")
    if as_json:
        click.echo(json.dumps(pushed.to_json(), indent=2, sort_keys=True))
    else:
        click.echo(f"pushed {pushed.pushed[-1]} as {pushed.repo_digest}; wrote {image_json}")
