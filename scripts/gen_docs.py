"""Generate docs/config.md from the JSON Schema and docs/cli.md from the commands' --help.

python scripts/gen_docs.py          # write both
python scripts/gen_docs.py --check  # exit 1 when a committed file differs (tests run this)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import click

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from mlrelease import config  # noqa: E402 - after the path is set
from mlrelease.cli import COMMANDS, LazyGroup, cli, gke  # noqa: E402
from mlrelease.cli.deploy import ByTarget  # noqa: E402


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not ref:
        return node
    target: Any = config.schema()
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}


def _type(node: dict[str, Any]) -> str:
    if "enum" in node:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in node["enum"])
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    if "oneOf" in node and "type" not in node:
        return "percentage string (`'2%'`) or number"
    kind = node.get("type", "any")
    if kind == "array" and isinstance(node.get("items"), dict):
        inner = _resolve(node["items"])
        return f"list of {inner.get('type', 'object')}"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return "mapping of name to object"
    return str(kind)


def _rows(node: dict[str, Any], prefix: str, required: set[str]) -> list[str]:
    rows: list[str] = []
    for key, sub in node.get("properties", {}).items():
        sub = _resolve(sub)
        path = f"{prefix}.{key}" if prefix else key
        default = f"`{json.dumps(sub['default'], ensure_ascii=False)}`" if "default" in sub else ""
        req = "yes" if key in required else ""
        desc = sub.get("description", "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{path}` | {_type(sub)} | {req} | {default} | {desc} |")
        if sub.get("type") == "object" and "properties" in sub:
            rows += _rows(sub, path, set(sub.get("required", [])))
        extra = sub.get("additionalProperties")
        if isinstance(extra, dict) and "properties" in _resolve(extra):
            rows += _rows(_resolve(extra), f"{path}.<name>", set(_resolve(extra).get("required", [])))
        items = sub.get("items")
        if isinstance(items, dict) and "properties" in _resolve(items):
            rows += _rows(_resolve(items), f"{path}[]", set(_resolve(items).get("required", [])))
    return rows


def config_reference() -> str:
    schema = config.schema()
    lines = [
        "# `mlrelease.yaml` reference",
        "",
        "Generated from [`schemas/mlrelease.schema.json`](../schemas/mlrelease.schema.json) by",
        "`scripts/gen_docs.py`; do not edit by hand. Paths are relative to the file's folder.",
        "",
        schema.get("description", ""),
        "",
        "| key | type | required | default | description |",
        "| --- | --- | --- | --- | --- |",
        *_rows(schema, "", set(schema.get("required", []))),
        "",
    ]
    return "\n".join(lines)


def _help(command: click.Command, path: list[str]) -> list[str]:
    ctx = click.Context(command, info_name=" ".join(path), terminal_width=80, max_content_width=80)
    text = command.get_help(ctx)
    out = [f"## `{' '.join(path)}`", "", "```text", text, "```", ""]
    if isinstance(command, click.Group):
        group_ctx = ctx
        names = command.list_commands(group_ctx)
        for name in names:
            sub = command.get_command(group_ctx, name)
            if sub is not None and not isinstance(command, LazyGroup):
                out += _help(sub, [*path, name])
    return out


def cli_reference() -> str:
    lines = [
        "# CLI reference",
        "",
        "Generated from each command's `--help` by `scripts/gen_docs.py`; do not edit by hand.",
        "",
        *_help(cli, ["mlrelease"]),
    ]
    for name in sorted(COMMANDS):
        command = cli.get_command(click.Context(cli), name)
        if command is not None:
            lines += _help(command, ["mlrelease", name])
        if isinstance(command, ByTarget):  # `--target gke` is a command of its own, with its own options
            lines += _help(getattr(gke, command.cluster_command), ["mlrelease", name, "--target", "gke"])
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a committed file is out of date")
    args = parser.parse_args()
    outputs = {ROOT / "docs" / "config.md": config_reference(), ROOT / "docs" / "cli.md": cli_reference()}
    return write_or_check(outputs, check=args.check)


def write_or_check(outputs: dict[Path, str], *, check: bool) -> int:
    """Write each generated file, or (``check``) exit 1 naming those that differ from it."""
    stale = []
    for path, text in outputs.items():
        if check:
            if not path.is_file() or path.read_text("utf-8") != text:
                stale.append(path.relative_to(ROOT))
        else:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text, "utf-8")
    if stale:
        print(f"out of date: {', '.join(map(str, stale))}; run `make docs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
