"""Generate schemas/<artifact>.schema.json, its copy in src/mlrelease/schema/, and docs/artifacts.md.

python scripts/gen_artifact_docs.py          # write them
python scripts/gen_artifact_docs.py --check  # exit 1 when a committed file differs (tests run this)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from gen_docs import write_or_check  # noqa: E402 - the sibling script, on the path as this one's folder

from mlrelease.artifacts.catalogue import ARTIFACTS, markdown  # noqa: E402 - after the path is set


def outputs() -> dict[Path, str]:
    out = {}
    for a in ARTIFACTS:  # published in schemas/ and shipped in the package, the same bytes
        text = json.dumps(a.json_schema(), indent=2) + "\n"
        out[ROOT / "schemas" / a.schema_file] = text
        out[ROOT / "src" / "mlrelease" / "schema" / a.schema_file] = text
    out[ROOT / "docs" / "artifacts.md"] = markdown()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a committed file is out of date")
    return write_or_check(outputs(), check=parser.parse_args().check)


if __name__ == "__main__":
    sys.exit(main())
