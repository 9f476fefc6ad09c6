"""A releasable handoff: a copy of examples/brno-houses whose evaluate output is the committed baseline.

``Handoff.build(name, ...)`` makes one build's outputs (an evaluate folder, a real gate run, an
image.json) without re-running evaluate, which takes minutes on a loaded machine.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from mlrelease.cli import cli
from mlrelease.image.record import ImageRecord

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "brno-houses"
DIGEST = "sha256:" + "5e" * 32


@dataclass(frozen=True)
class Build:
    evaluate: Path
    gate: Path
    image_json: Path

    def args(self) -> list[str]:
        paths = {"--evaluate": self.evaluate, "--gate": self.gate, "--image-json": self.image_json}
        return [str(x) for pair in paths.items() for x in pair]


@dataclass(frozen=True)
class Handoff:
    root: Path

    @classmethod
    def copy(cls, target: Path) -> Handoff:
        shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("notebooks", "__pycache__"))
        cfg = target / "mlrelease.yaml"
        text = cfg.read_text().replace("artifact: model/model.skops", "artifact: baseline/model.skops")
        cfg.write_text(text.replace("notebooks:\n  - notebooks/*.ipynb\n", "notebooks: []\n"))
        return cls(target)

    def build(
        self,
        name: str,
        *,
        rmse_factor: float = 1.0,
        pushed: bool = True,
        baseline: str | None = None,
        registry: str | None = None,
        env: dict[str, str] | None = None,
        image: ImageRecord | None = None,
    ) -> Build:
        """One build: ``rmse_factor`` scales the RMSE the evaluate folder reports (>1.02 fails the gate).

        ``image`` is a real built (and pushed) image's record; without it the record names an image
        that was never built, which is enough for everything but running it.
        """
        out = self.root / "builds" / name
        evaluate = out / "evaluate"
        shutil.copytree(self.root / "baseline", evaluate, ignore=shutil.ignore_patterns("model.skops"))
        if rmse_factor != 1.0:
            metrics = json.loads((evaluate / "metrics.json").read_text())
            metrics["metrics"]["root_mean_squared_error"] *= rmse_factor
            (evaluate / "metrics.json").write_text(json.dumps(metrics))
            (evaluate / "predictions.parquet").unlink()  # an unpaired comparison, on the figures alone
        args = ["gate", "-c", str(self.root), "--candidate", str(evaluate), "-o", str(out / "gate")]
        args += ["--baseline", baseline or str(self.root / "baseline")]
        if registry:
            args += ["--registry", registry]
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code in (0, 1), result.output
        record = ImageRecord(
            reference=f"brno-house-prices:{name}",
            image_id=DIGEST,
            size_bytes=1,
            gpu=False,
            base_image="debian",
            labels={},
            port=8080,
        )
        if pushed:
            record = record.with_push(f"127.0.0.1:5000/brno-house-prices:{name}", DIGEST)
        (image or record).write(out / "image.json")
        return Build(evaluate, out / "gate", out / "image.json")
