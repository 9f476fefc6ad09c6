"""Which notebooks a lint run checks, and with which settings.

Paths on the command line win; without them, the ``notebooks`` globs of mlrelease.yaml. The
config is the one given with ``-c``, else the nearest ``mlrelease.yaml`` above the first notebook
(or the working folder); without one, the defaults apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlrelease.config import CONFIG_NAME, LintConfig
from mlrelease.errors import UsageError


@dataclass
class Targets:
    paths: list[Path]
    lint: LintConfig
    root: Path | None
    missing: list[str] = field(default_factory=list)  # one line each: a path that does not exist
    lock: Path | None = None  # the handoff's lock, when a config names one: the --execute kernel


def _nearest_config(start: Path) -> Path | None:
    start = start.resolve()
    for folder in [start, *start.parents]:
        if (folder / CONFIG_NAME).is_file():
            return folder / CONFIG_NAME
    return None


def resolve_targets(args: list[Path], config_path: str | None) -> Targets:
    from mlrelease import config as cfgmod
    from mlrelease.notebooks.lint import display_path, repo_root

    if config_path is not None:
        found: Path | None = cfgmod.find_config(config_path)
    else:
        anchor = args[0] if args else Path.cwd()
        found = _nearest_config(anchor if anchor.is_dir() else anchor.parent)
    cfg = cfgmod.load(found) if found else None
    lint = cfg.lint if cfg else LintConfig()
    paths: list[Path] = []
    missing: list[str] = []
    if args:
        for arg in args:
            if arg.is_dir():
                paths += sorted(p for p in arg.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
            elif arg.exists():
                paths.append(arg)
            else:
                missing.append(f"{arg}: no such file")
    elif cfg is not None:
        paths = cfg.notebook_paths()
        if not paths:
            raise UsageError(
                f"{display_path(cfg.path)}: the notebooks globs {list(cfg.notebooks)} match no file",
                hint="fix the 'notebooks' key, or name the notebooks on the command line",
            )
    else:
        raise UsageError(
            "no notebooks given and no mlrelease.yaml found",
            hint="pass notebook paths, or run in a handoff folder with an mlrelease.yaml",
        )
    if args and not paths and not missing:
        raise UsageError("no .ipynb files found in " + ", ".join(str(a) for a in args))
    root = cfg.root if cfg else (repo_root(paths[0].resolve().parent) if paths else None)
    return Targets(paths, lint, root, missing, cfg.lock if cfg else None)
