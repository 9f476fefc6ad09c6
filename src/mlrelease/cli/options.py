"""Options shared by several subcommands, each declared once, each readable from the environment.

An option with an ``MLRELEASE_*`` variable takes its value from it when the flag is not given, so
a composite action maps its inputs to variables and runs a bare ``mlrelease <command>``. A bad
value is click's usage error (exit 2), naming the option and the variable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

IMAGE_JSON = "image.json"

# What click.option decorates: a command callback (click's own bound for its decorators).
FC = TypeVar("FC", bound=Callable[..., Any])


class Paths(click.Path):
    """A path type whose environment variable holds several paths separated by whitespace (as an
    action's multi-valued input does), not by ``os.pathsep``; nothing is glob-expanded."""

    def split_envvar_value(self, rv: str) -> Sequence[str]:
        return rv.split()


def config_option_with(help: str) -> Callable[[FC], FC]:
    """``-c/--config``, with ``help`` saying what the command does without one."""
    return click.option(
        "--config",
        "-c",
        "config_path",
        type=click.Path(dir_okay=True, path_type=str),
        default=None,
        envvar="MLRELEASE_CONFIG",
        show_envvar=True,
        help=help,
    )


config_option = config_option_with("mlrelease.yaml, or the folder that holds it. Default: ./mlrelease.yaml.")

json_option = click.option("--json", "as_json", is_flag=True, help="Print only JSON, for machines.")


def output_dir_option(what: str, *, required: bool = True, default: str | None = None) -> Callable[[FC], FC]:
    """``-o/--output DIR``, passed as ``out_dir``: the folder a step writes ``what`` into."""
    # An explicit default=None would count as a value and silence click's "Missing option".
    extra: dict[str, Any] = {"default": default, "show_default": True} if default is not None else {}
    return click.option(
        "--output",
        "-o",
        "out_dir",
        type=click.Path(file_okay=False, path_type=Path),
        required=required and default is None,
        envvar="MLRELEASE_OUTPUT_DIR",
        show_envvar=True,
        help=f"Folder for {what}.",
        **extra,
    )


def fail_on_option(choices: Sequence[str], default: str | None, help: str) -> Callable[[FC], FC]:
    """``--fail-on SEVERITY``: the lowest severity that makes a check exit 1."""
    return click.option(
        "--fail-on",
        type=click.Choice(list(choices)),
        default=default,
        show_default=default is not None,
        envvar="MLRELEASE_FAIL_ON",
        show_envvar=True,
        help=help,
    )


def _path_option(flag: str, envvar: str, *, folder: bool, help: str) -> Callable[[FC], FC]:
    return click.option(
        flag,
        type=click.Path(file_okay=not folder, dir_okay=folder, path_type=Path),
        default=None,
        envvar=envvar,
        show_envvar=True,
        help=help,
    )


def data_option(help: str) -> Callable[[FC], FC]:
    """``--data FILE``: a CSV or Parquet file to run the model on."""
    return _path_option("--data", "MLRELEASE_DATA", folder=False, help=help)


def evaluation_option(help: str) -> Callable[[FC], FC]:
    """``--evaluation DIR``: the folder `mlrelease evaluate -o` wrote."""
    return _path_option("--evaluation", "MLRELEASE_EVALUATION", folder=True, help=help)


compiled_model_option = _path_option(
    "--compiled-model",
    "MLRELEASE_COMPILED_MODEL",
    folder=True,
    help="Serve the compiled model in this folder alone (what `mlrelease build` writes into a "
    "compiled-only image): no model library is imported, and the server refuses to start unless the "
    "compiled model reproduces its recorded predictions bit for bit.",
)


image_json_option = click.option(
    "--image-json",
    type=click.Path(dir_okay=False, path_type=Path),
    default=IMAGE_JSON,
    show_default=True,
    envvar="MLRELEASE_IMAGE_JSON",
    show_envvar=True,
    help="The image record: written by build, read by test-image, updated by push.",
)


registry_option = click.option(
    "--registry",
    "registry_location",
    envvar="MLRELEASE_REGISTRY",
    default=None,
    show_envvar=True,
    help="The release registry: a folder, oci://HOST/NAMESPACE or oci+http://HOST/NAMESPACE. "
    "Default: registry.location in mlrelease.yaml.",
)


def env_option(*decls: str, envvar: str, **kwargs: Any) -> Callable[[FC], FC]:
    """A command's own option, read from ``envvar`` when the flag is not given. A flag reads
    true/false (1/0, yes/no); a ``multiple`` option splits the variable on whitespace."""
    return click.option(*decls, envvar=envvar, show_envvar=True, **kwargs)


# The inputs of the step actions (actions/*/action.yml), one variable each. Where two commands
# take the same input it is the same option; where one name means two things (a deploy target, a
# label column) the variables differ.

notebooks_argument = click.argument(
    "notebooks", nargs=-1, type=Paths(path_type=Path), envvar="MLRELEASE_NOTEBOOKS"
)
execute_option = env_option(
    "--execute",
    envvar="MLRELEASE_EXECUTE",
    is_flag=True,
    help="Also run each notebook top to bottom in a fresh kernel and compare its stored outputs.",
)
sarif_option = env_option(
    "--sarif",
    "sarif_path",
    envvar="MLRELEASE_SARIF",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the findings as SARIF 2.1.0 (for GitHub code scanning).",
)
lint_report_option = env_option(
    "--report",
    "report_path",
    envvar="MLRELEASE_REPORT",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the findings as lint.json (the same document --json prints).",
)

variants_option = env_option(
    "--variant",
    "variants",
    envvar="MLRELEASE_VARIANTS",
    multiple=True,
    metavar="NAME[=INDEX_URL]",
    help="Lock a variant beside the default lock: 'cpu' and 'gpu' add PyTorch's CPU or CUDA index "
    "(CUDA from image.cuda) and write requirements-cpu.txt / requirements-gpu.txt; NAME=URL gives "
    "any variant its own index. Repeat for several locks in one run (the variable: space-separated). "
    "Default: the plain lock.",
)
extra_index_urls_option = env_option(
    "--extra-index-url",
    "extra_index_urls",
    envvar="MLRELEASE_EXTRA_INDEX_URLS",
    multiple=True,
    help="More indexes (a private one); recorded in the lock's header. Repeatable (the variable: "
    "space-separated).",
)
lock_mode_option = env_option(
    "--mode",
    envvar="MLRELEASE_LOCK_MODE",
    type=click.Choice(["lock", "check"]),
    default=None,
    help="lock: resolve and write the lock; check: the same as --check. Default: lock.",
)

model_file_option = env_option(
    "--model",
    "model_path",
    envvar="MLRELEASE_MODEL_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Evaluate this model file instead of model.artifact (e.g. the baseline). Same trust settings.",
)
latency_samples_option = env_option(
    "--latency-samples",
    envvar="MLRELEASE_LATENCY_SAMPLES",
    default=500,
    show_default=True,
    type=click.IntRange(min=100),
    help="Single-row predictions timed for the latency percentiles (after a warm-up), at most.",
)
latency_budget_option = env_option(
    "--latency-budget",
    "latency_budget_s",
    envvar="MLRELEASE_LATENCY_BUDGET",
    default=5.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds the single-row timings may take: they stop at this budget or at "
    "--latency-samples, whichever comes first (never below 50 samples). metrics.json says how many.",
)

candidate_option = env_option(
    "--candidate",
    envvar="MLRELEASE_CANDIDATE",
    type=click.Path(path_type=Path),
    required=True,
    help="The candidate: a folder written by `mlrelease evaluate -o`, or its metrics.json.",
)
baseline_option = env_option(
    "--baseline",
    envvar="MLRELEASE_BASELINE",
    type=click.Path(path_type=Path),
    default=None,
    help="The model in production, the same way, or release:production / release:v3 / release:TARGET from "
    "the release registry. Without it only absolute rules (min/max) are checked.",
)
allow_different_data_option = env_option(
    "--allow-different-data",
    envvar="MLRELEASE_ALLOW_DIFFERENT_DATA",
    is_flag=True,
    help="Compare a baseline evaluated on other data than the candidate (different data sha256). "
    "Without it the gate refuses (exit 2): such metrics are not comparable. The verdict says so.",
)

base_image_option = env_option(
    "--base-image",
    envvar="MLRELEASE_BASE_IMAGE",
    default=None,
    help="Base of both stages; NAME:TAG or NAME[:TAG]@sha256:DIGEST.",
)
gpu_variant_option = env_option(
    "--gpu/--cpu", "gpu", envvar="MLRELEASE_GPU", default=None, help="GPU or CPU variant. Default: image.gpu."
)
gpu_check_option = env_option(
    "--gpu",
    envvar="MLRELEASE_GPU",
    is_flag=True,
    help="Also check that the GPU is visible inside (exit 3 without a GPU runtime).",
)
image_json_output_option = env_option(
    "--output",
    "-o",
    envvar="MLRELEASE_IMAGE_JSON",
    type=click.Path(dir_okay=False, path_type=Path),
    default=IMAGE_JSON,
    show_default=True,
    help="The image record to write (what test-image, push and release read).",
)
image_registry_option = env_option(
    "--registry",
    envvar="MLRELEASE_IMAGE_REGISTRY",
    default=None,
    help="HOST[:PORT][/PATH] to push to. Default: image.registry.",
)

evaluate_dir_option = env_option(
    "--evaluate",
    "evaluate_dir",
    envvar="MLRELEASE_EVALUATION",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The folder `mlrelease evaluate -o` wrote (metrics.json, golden.parquet, ...).",
)
gate_json_option = env_option(
    "--gate",
    "gate_json",
    envvar="MLRELEASE_GATE",
    type=click.Path(path_type=Path),
    required=True,
    help="gate.json, or the folder `mlrelease gate -o` wrote.",
)
force_option = env_option(
    "--force",
    envvar="MLRELEASE_FORCE",
    is_flag=True,
    help="Release even though the gate failed or the image was not pushed.",
)
force_reason_option = env_option(
    "--reason",
    envvar="MLRELEASE_FORCE_REASON",
    default=None,
    help="Why --force is needed; recorded in the release.",
)

version_argument = click.argument("version", envvar="MLRELEASE_VERSION")
target_option = env_option(
    "--target",
    envvar="MLRELEASE_DEPLOY_TARGET",
    type=click.Choice(["local"]),
    default="local",
    show_default=True,
    help="Where to run it. local: this machine, behind a proxy on --port.",
)


def cluster_target_option(command: str) -> Callable[[FC], FC]:
    """``--target`` of ``deploy`` and ``rollback``: local, or gke with its own options."""
    return env_option(
        "--target",
        envvar="MLRELEASE_DEPLOY_TARGET",
        type=click.Choice(["local", "gke"]),
        default="local",
        show_default=True,
        help="Where to run it. local: this machine, behind a proxy on --port. gke: a Kubernetes "
        f"cluster, with its own options (`mlrelease {command} --target gke --help`).",
    )


runtime_option = env_option(
    "--runtime",
    envvar="MLRELEASE_RUNTIME",
    type=click.Choice(["docker", "process"]),
    default="docker",
    show_default=True,
    help="docker: the release's image by digest on the Docker engine; "
    "process: `mlrelease serve` as a process.",
)
rollback_runtime_option = env_option(
    "--runtime",
    envvar="MLRELEASE_RUNTIME",
    type=click.Choice(["docker", "process"]),
    default=None,
    help="docker or process. Default: the runtime of what runs on the target now (docker when nothing does).",
)
port_option = env_option(
    "--port",
    envvar="MLRELEASE_PORT",
    type=click.IntRange(1, 65535),
    default=None,
    help="The public port. Default: serving.port (8080).",
)
state_option = env_option(
    "--state-dir",
    envvar="MLRELEASE_LOCAL_STATE",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".mlrelease/local"),
    show_default=True,
    help="Where the local target keeps its state and the fetched releases.",
)
watch_duration_option = env_option(
    "--duration",
    "duration_s",
    envvar="MLRELEASE_WATCH_SECONDS",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds to watch. Default: watch.duration_s (300).",
)
rollback_to_option = env_option(
    "--to",
    "to",
    envvar="MLRELEASE_ROLLBACK_TO",
    default=None,
    help="The release to go back to. Default: the newest good one before the current.",
)
dry_run_option = env_option(
    "--dry-run", envvar="MLRELEASE_DRY_RUN", is_flag=True, help="Print the plan and change nothing."
)
rollback_reason_option = env_option(
    "--reason", envvar="MLRELEASE_REASON", default=None, help="Why; recorded with the rollback."
)

current_option = env_option(
    "--current",
    envvar="MLRELEASE_CURRENT",
    required=True,
    help="The window to check: the server's request log (.jsonl), a folder of them, a CSV/Parquet file,"
    " or cloud-logging:PROJECT (the model's request lines in Cloud Logging, --since to --until).",
)
reference_option = env_option(
    "--reference",
    envvar="MLRELEASE_REFERENCE",
    type=click.Path(path_type=Path),
    default=None,
    help="What the model was trained on (CSV, Parquet, or past request logs). Default: validation.reference.",
)
labels_option = env_option(
    "--labels",
    envvar="MLRELEASE_LABELS",
    type=click.Path(path_type=Path),
    default=None,
    help="Ground truth (CSV/Parquet) for quality per slice.",
)
issue_label_option = env_option(
    "--issue-label",
    envvar="MLRELEASE_ISSUE_LABEL",
    default=None,
    help="On an alert, open one GitHub issue with this label, or update the open one"
    " (needs GITHUB_TOKEN and GITHUB_REPOSITORY; GITHUB_API_URL for GitHub Enterprise); with -o,"
    " its title and body also go to issue.md there (all there is when no API answers).",
)

pr_checks_option = env_option(
    "--checks",
    "checks",
    envvar="MLRELEASE_PR_CHECKS",
    type=click.Choice(["lint", "deps", "gate", "image"]),
    multiple=True,
    default=("lint", "deps", "gate"),
    show_default=True,
    help="The checks to run; repeat it (the variable: space-separated). image needs gate and Docker.",
)
pr_fail_on_option = env_option(
    "--fail-on",
    "fail_on",
    envvar="MLRELEASE_PR_FAIL_ON",
    type=click.Choice(["any", "gate", "never"]),
    default="any",
    show_default=True,
    help="any: exit 1 when any check fails; gate: only when the gate blocks; never: only report.",
)
lint_fail_on_option = env_option(
    "--lint-fail-on",
    envvar="MLRELEASE_LINT_FAIL_ON",
    type=click.Choice(["error", "warning", "info", "never"]),
    default=None,
    help="Lowest lint severity that counts as a failed lint. Default: lint.fail_on.",
)
