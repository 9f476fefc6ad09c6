"""``mlrelease gate``: compare the candidate's metrics with the baseline's and decide."""

from __future__ import annotations

from pathlib import Path

import click

from mlrelease.cli.options import (
    allow_different_data_option,
    baseline_option,
    candidate_option,
    config_option,
    json_option,
    output_dir_option,
    registry_option,
)


@click.command()
@candidate_option
@baseline_option
@allow_different_data_option
@config_option
@registry_option
@output_dir_option("gate.json and gate.md")
@json_option
def gate(
    candidate: Path,
    baseline: Path | None,
    allow_different_data: bool,
    config_path: str | None,
    registry_location: str | None,
    out_dir: Path,
    as_json: bool,
) -> None:
    """Block a CANDIDATE that is worse than the BASELINE under the rules in mlrelease.yaml.

    Exit 0 when it passes, 1 when a rule blocks it, 2 on bad input.
    """
    import dataclasses
    import json

    from mlrelease import config as cfgmod
    from mlrelease import findings, github
    from mlrelease.artifacts import check_writable, write_text
    from mlrelease.gate import decide, load_side
    from mlrelease.gate.report import markdown, print_table

    check_writable(out_dir, folder=True)
    cfg = cfgmod.load(config_path)
    cand = load_side(candidate, "candidate")
    release = None
    if baseline is not None and str(baseline).startswith("release:"):
        from mlrelease.cli.release import open_registry
        from mlrelease.registry.releases import baseline_folder

        baseline, release = baseline_folder(
            open_registry(registry_location, cfg), cfg.model.name, str(baseline)[8:]
        )
    base = load_side(baseline, "baseline") if baseline is not None else None
    slices = cfg.validation.slices if cfg.validation else ()
    result = decide(cfg.gate, slices, cand, base, allow_different_data=allow_different_data)
    if release is not None and result.baseline is not None:
        # read back by `mlrelease release` as the parent
        result = dataclasses.replace(result, baseline={**result.baseline, "release": f"v{release}"})
    data = result.to_dict()
    text = markdown(result)
    write_text(out_dir / "gate.md", text)
    result.write(out_dir / "gate.json")

    github.add_summary(text)
    github.set_output("verdict", result.verdict)
    github.set_output("report", str(out_dir / "gate.md"))
    found = result.findings()
    findings.annotate(found, title_prefix="gate: ")

    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))
    else:
        print_table(result)
    # the table said it; with --json the headline goes to stderr
    findings.raise_if_failed(found, "error", result.headline if as_json else "")
