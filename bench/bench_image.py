"""Image size and rebuild time: `mlrelease build` against a naive single-stage `pip install` image.

Both images hold the same model, the same locked packages and the same server, on the same base
(the Debian-built test base, since no image can be pulled here), and both install from the same
host-downloaded wheels with no network in the build, so only the Dockerfile differs:

- ours: multi-stage; the runtime stage holds the venv and app/ only (compiled-only: the venv less the
  build-only packages, and the compiled model); dependency layers first.
- naive: one stage, `COPY . /src` of the whole handoff and the wheels, then `pip install`, as
  most first Dockerfiles are written; the wheels and the data stay in the image.

Measured: image size; a full build (no cache); a rebuild after a model-only change (the
production baseline copied over the candidate), cache warm; the size of each installed
distribution in both images (every file its RECORD lists: modules, bytecode, bundled ``.libs``)
with the ratio. Ours is what ``mlrelease build`` makes with the default ``image.runtime: auto``: for
the example, whose whole model compiles, the compiled-only image (the builder compiles and proves
the model; the runtime holds no scikit-learn, scipy, pandas, joblib or skops). Prints the figures
and the ratios.

Usage: ``python bench/bench_image.py`` (needs a Docker engine; about 5 minutes on 2 cores).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "brno-houses"
sys.path.insert(0, str(ROOT / "src"))

from mlrelease import config  # noqa: E402 - after the path is set, for a run without install
from mlrelease.image import build as image_build  # noqa: E402
from mlrelease.image import context, wheelhouse  # noqa: E402

NAIVE = """\
FROM {base}
WORKDIR /src
COPY . /src
RUN python3 -m venv /venv \\
 && /venv/bin/pip install --no-index --find-links /src/wheels -r requirements.txt \\
 && /venv/bin/pip install --no-index --no-deps /src/dist/*.whl
EXPOSE 8080
ENTRYPOINT ["/venv/bin/mlrelease", "serve", "-c", "/src/mlrelease.yaml", "--signature", "/src/signature.json"]
"""


def base_image() -> str:
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_base_image.py")],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def build_ours(client, handoff: Path, evaluation: Path, base: str, cache: Path, *, nocache: bool, tag: str):
    plan = context.plan(config.load(handoff), base_image=base, evaluation=evaluation, tag=tag)
    started = time.monotonic()
    record = image_build.build_image(client, plan, wheel_cache=cache, nocache=nocache)
    runtimes["ours"] = f"{plan.runtime.kind}: {plan.runtime.reason}"
    left_out.append(record.labels.get("io.mlrelease.build-only", ""))
    return time.monotonic() - started, record.size_bytes


runtimes: dict[str, str] = {}
left_out: list[str] = []


def build_naive(client, handoff: Path, evaluation: Path, base: str, cache: Path, *, nocache: bool, tag: str):
    plan = context.plan(config.load(handoff), base_image=base, evaluation=evaluation, tag=tag)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="naive-") as tmp:
        ctx = Path(tmp) / "ctx"
        shutil.copytree(handoff, ctx, ignore=shutil.ignore_patterns(".git"))
        shutil.copy2(evaluation / "signature.json", ctx / "signature.json")
        wheelhouse.download(plan.lock, python=plan.spec.python, cache=cache).link_into(ctx / "wheels")
        wheelhouse.build_self_wheel(ctx / "dist", source_date_epoch=0)
        (ctx / "Dockerfile").write_text(NAIVE.format(base=base))
        for event in client.api.build(
            path=str(ctx), tag=tag, decode=True, rm=True, nocache=nocache, network_mode="none"
        ):
            if "error" in event:
                raise RuntimeError(event["error"])
    return time.monotonic() - started, client.images.get(tag).attrs["Size"]


# Bytes per installed distribution, from each ``*.dist-info/RECORD`` (bytecode pip compiled is
# listed there too): apparent sizes of the files that are still there, links by their own size.
# Files no RECORD lists (none expected) count as "(unrecorded)".
SIZES = """
import json, os, sys
site = next(p for p in sys.path if p.endswith("site-packages"))
owner = {}
for entry in sorted(os.listdir(site)):
    if entry.endswith(".dist-info"):
        name = entry.split("-")[0].lower().replace("_", "-")
        with open(os.path.join(site, entry, "RECORD")) as fh:
            for line in fh:
                rel = line.rsplit(",", 2)[0]
                if rel:
                    owner[os.path.normpath(os.path.join(site, rel))] = name
sizes = {}
for folder, dirs, files in os.walk(site):
    for f in files:
        path = os.path.join(folder, f)
        name = owner.get(os.path.normpath(path), "(unrecorded)")
        sizes[name] = sizes.get(name, 0) + os.lstat(path).st_size
print(json.dumps(sizes))
"""


def sizes_by_package(client, tag: str, python: str) -> dict[str, int]:
    """Bytes per installed distribution in the image, from a container of it."""
    out = client.containers.run(tag, entrypoint=[python, "-c", SIZES], network_mode="none", remove=True)
    return {name: int(size) for name, size in json.loads(out).items()}


def print_sizes(ours: dict[str, int], naive: dict[str, int], top: int = 14) -> None:
    print(f"{'package':>18} {'ours MB':>8} {'naive MB':>9} {'ratio':>6}")

    def row(name: str, o: int, n: int) -> None:
        print(f"{name:>18} {o / 1e6:8.1f} {n / 1e6:9.1f} {o / n if n else float('nan'):6.2f}")

    ranked = sorted(naive.keys() | ours.keys(), key=lambda p: -naive.get(p, ours.get(p, 0)))
    for package in ranked[:top]:
        row(package, ours.get(package, 0), naive.get(package, 0))
    rest = ranked[top:]
    row(f"{len(rest)} others", sum(ours.get(p, 0) for p in rest), sum(naive.get(p, 0) for p in rest))
    row("site-packages", sum(ours.values()), sum(naive.values()))


def main() -> int:
    client = docker.from_env(timeout=900)
    base = base_image()
    with tempfile.TemporaryDirectory(prefix="bench-image-") as tmp:
        work = Path(tmp)
        handoff = work / "brno-houses"
        shutil.copytree(EXAMPLE, handoff)
        evaluation = work / "evaluation"
        subprocess.run(
            [sys.executable, "-m", "mlrelease", "evaluate", "-c", str(handoff), "-o", str(evaluation)],
            check=True,
            capture_output=True,
        )
        cache = work / "wheels"
        figures = {}
        packages = {}
        for name, builder in (("ours", build_ours), ("naive", build_naive)):
            tag = f"mlrelease-bench/{name}:full"
            full, size = builder(client, handoff, evaluation, base, cache, nocache=True, tag=tag)
            shutil.copy2(EXAMPLE / "baseline" / "model.skops", handoff / "model" / "model.skops")
            rebuild, _ = builder(client, handoff, evaluation, base, cache, nocache=False, tag=f"{tag}-model")
            shutil.copy2(EXAMPLE / "model" / "model.skops", handoff / "model" / "model.skops")
            figures[name] = (size, full, rebuild)
            python = "/opt/venv/bin/python" if name == "ours" else "/venv/bin/python"
            packages[name] = sizes_by_package(client, tag, python)
            client.images.remove(tag, force=True)
            client.images.remove(f"{tag}-model", force=True)
            print(
                f"{name:>5}: image {size / 1e6:7.0f} MB  full build {full:6.1f} s  "
                f"model-only rebuild {rebuild:6.1f} s"
            )
    print_sizes(packages["ours"], packages["naive"])
    (o_size, o_full, o_re), (n_size, n_full, n_re) = figures["ours"], figures["naive"]
    print(f"full build: naive / ours = {n_full / o_full:.2f}")
    print(f"size: ours / naive = {o_size / n_size:.2f} ({(n_size - o_size) / 1e6:.0f} MB smaller)")
    print(f"model-only rebuild / full build, ours = {o_re / o_full:.2f} ({o_full / o_re:.1f}x faster)")
    print(f"model-only rebuild: naive / ours = {n_re / o_re:.1f}x")
    print(f"ours is {runtimes['ours']} (image.runtime auto); build-only packages left out: {left_out[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
