"""The image's runtime without a Docker engine: when it is compiled-only and why (or why not), which
locked packages it leaves in the builder, how the builder moves them out, its Dockerfile, and the
package check held to the lock less exactly the set the image names."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from mlrelease import config
from mlrelease.image import context, lockfile, prune, runtime, verify

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "brno-houses"
FIXTURES = ROOT / "tests" / "fixtures"
EVALUATION = EXAMPLE / "baseline"  # holds a signature.json of the example's columns
HADOLINT = Path(sys.executable).with_name("hadolint")


def _config_with(tmp_path: Path, **image: object) -> config.Config:
    folder = tmp_path / "handoff"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("notebooks", "__pycache__"))
    data = yaml.safe_load((folder / "mlrelease.yaml").read_text())
    data["image"].update(image)
    data["notebooks"] = []
    (folder / "mlrelease.yaml").write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return config.load(str(folder))


def test_the_example_is_compiled_only_and_the_plan_says_why():
    plan = context.plan(config.load(EXAMPLE), evaluation=EVALUATION)
    assert plan.runtime.kind == "compiled" == plan.spec.runtime
    assert "HistGradientBoostingRegressor (200 trees)" in plan.runtime.reason
    assert "target inverse numpy.exp" in plan.runtime.reason
    assert plan.spec.labels[runtime.RUNTIME_LABEL] == "compiled"
    assert plan.spec.entrypoint()[3:6] == ["/app/mlrelease.yaml", "--compiled-model", "/app/compiled"]


@pytest.mark.parametrize(
    ("image", "why"),
    [({"runtime": "full"}, "image.runtime is full"), ({"gpu": True}, "a GPU image")],
)
def test_full_is_chosen_on_request_and_for_a_gpu_image(tmp_path: Path, image: dict[str, object], why: str):
    plan = context.plan(_config_with(tmp_path, **image), evaluation=EVALUATION)
    assert plan.runtime.kind == "full" == plan.spec.runtime and plan.runtime.reason.startswith(why)
    assert "--compiled-model" not in plan.spec.entrypoint()
    assert "freeze" not in plan.dockerfile() and "prune" not in plan.dockerfile()


def test_a_model_that_does_not_compile_fully_builds_the_full_image_and_says_why(tmp_path: Path):
    folder = tmp_path / "clf"
    shutil.copytree(FIXTURES / "eval-classification", folder)
    (folder / "signature.json").write_text(
        '{"schema_version": 1, "fields": [{"name": "x", "kind": "number"}], "task": "classification"}'
    )
    choice = runtime.choose(config.load(str(folder)), gpu=False, signature=folder / "signature.json")
    assert choice.kind == "full"
    assert choice.reason.startswith(
        "the model does not compile fully: LogisticRegression is not a tree ensemble"
    )


def test_a_custom_entrypoint_builds_the_full_image():
    choice = runtime.choose(config.load(str(FIXTURES / "eval-entrypoint")), gpu=False, signature=EVALUATION)
    assert choice == runtime.RuntimeChoice("full", "a custom entrypoint runs the handoff's own code")


def _wheel(folder: Path, name: str, *requires: str) -> Path:
    path = folder / f"{name.replace('-', '_')}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        lines = [f"Name: {name}", "Version: 1.0", *(f"Requires-Dist: {r}" for r in requires)]
        zf.writestr(f"{name.replace('-', '_')}-1.0.dist-info/METADATA", "\n".join(lines) + "\n")
    return path


def test_the_runtime_keeps_the_closure_of_the_serving_roots_under_the_image_s_markers(tmp_path: Path):
    wheels = [
        _wheel(tmp_path, "uvicorn", "click>=7", "h11", 'typing-extensions; python_version < "3.11"',
               'watchfiles; extra == "standard"'),
        _wheel(tmp_path, "click", 'colorama; platform_system == "Windows"'),
        _wheel(tmp_path, "h11"), _wheel(tmp_path, "typing-extensions"), _wheel(tmp_path, "colorama"),
        _wheel(tmp_path, "scikit-learn", "numpy", "scipy", "joblib"), _wheel(tmp_path, "numpy"),
        _wheel(tmp_path, "scipy", "numpy"), _wheel(tmp_path, "joblib"), _wheel(tmp_path, "watchfiles"),
    ]  # fmt: skip
    keep = runtime.runtime_packages(wheels, "3.11", roots=("uvicorn", "numpy"))
    assert keep == {"uvicorn", "click", "h11", "numpy"}
    assert "typing-extensions" in runtime.runtime_packages(wheels, "3.10", roots=("uvicorn",))


def test_the_example_leaves_the_model_library_in_the_builder():
    lock = lockfile.read_lock(EXAMPLE / "requirements.txt")
    wheels = sorted((Path.home() / ".cache" / "mlrelease" / "wheelhouse").glob("*.whl"))
    names = {w.name.split("-")[0].lower().replace("_", "-") for w in wheels}
    if not {p.name for p in lock.pins} <= names:
        pytest.skip("the example's wheels are not in the wheelhouse cache (a build downloads them)")
    left = runtime.build_only(
        lock, [w for w in wheels if w.name.split("-")[1] in lock.versions().values()], "3.11"
    )
    assert {"scikit-learn", "scipy", "pandas", "joblib", "skops", "threadpoolctl"} <= set(left)
    assert not set(left) & {"numpy", "uvicorn", "h11", "click", "pyyaml", "orjson", "prometheus-client"}


def _site(venv: Path) -> Path:
    site = venv / "lib" / "python3.11" / "site-packages"
    for name, files in (
        ("gone", ["gone/__init__.py", "gone/__pycache__/x.pyc", "gone.libs/lib.so"]),
        ("kept", ["kept.py"]),
    ):
        info = site / f"{name}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Name: {name}\nVersion: 1.0\n")
        for rel in files:
            (site / rel).parent.mkdir(parents=True, exist_ok=True)
            (site / rel).write_text("x")
        record = [*files, f"{info.name}/METADATA", f"{info.name}/RECORD", "../../../bin/script"]
        (info / "RECORD").write_text("".join(f"{r},,\n" for r in record))
    return site


def test_prune_moves_a_distribution_s_recorded_files_out_of_the_environment(tmp_path: Path):
    site = _site(tmp_path / "venv")
    assert prune.main([str(tmp_path / "venv"), str(tmp_path / "out"), "gone"]) == 0
    assert sorted(p.name for p in site.iterdir()) == ["kept-1.0.dist-info", "kept.py"]
    assert (tmp_path / "out" / "gone" / "__pycache__" / "x.pyc").is_file()
    assert (tmp_path / "out" / "gone-1.0.dist-info" / "RECORD").is_file()
    with pytest.raises(SystemExit, match="not installed: absent"):
        prune.prune(tmp_path / "venv", tmp_path / "out", ["absent"])


def test_the_compiled_only_dockerfile_proves_the_model_in_the_builder_and_passes_hadolint(tmp_path: Path):
    plan = context.plan(config.load(EXAMPLE), evaluation=EVALUATION).with_build_only(("pandas", "scipy"))
    text = plan.dockerfile()
    builder, final = text.split("\nFROM ", 2)[1:]
    assert "mlrelease.image.prune /opt/venv /opt/build-only pandas scipy" in builder
    assert builder.index("image.prune") < builder.index("image.slim") < builder.index("serve.freeze")
    assert "PYTHONPATH=/opt/build-only" in builder
    # the runtime stage: the environment first (cached across model changes), the model and its
    # compiled form last
    assert (
        final.index("COPY --from=builder /opt/venv")
        < final.index("COPY app/")
        < final.index("/build/compiled")
    )
    assert 'io.mlrelease.build-only="pandas,scipy"' in final
    exe = str(HADOLINT) if HADOLINT.exists() else shutil.which("hadolint")
    assert exe
    (tmp_path / "Dockerfile").write_text(text)
    run = subprocess.run([exe, str(tmp_path / "Dockerfile")], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_packages_equal_the_lock_less_exactly_the_build_only_set_the_image_names():
    lock = lockfile.read_lock(EXAMPLE / "requirements.txt")
    versions = lock.versions()
    left_out = frozenset({"scikit-learn", "scipy", "pandas"})
    installed = [(n, v) for n, v in versions.items() if n not in left_out] + [("mlrelease", "0.1.0")]
    assert verify.compare_packages(lock, installed, self_version="0.1.0", build_only=left_out) == []
    # a build-only package still installed, a name the lock lacks, and an ordinary difference
    got = verify.compare_packages(
        lock,
        [*installed[1:], ("pandas", versions["pandas"])],
        self_version="0.1.0",
        build_only=left_out | {"tensorflow"},
    )
    first = installed[0][0]
    assert got == sorted(
        [
            verify.PackageDiff(first, versions[first], None),
            verify.PackageDiff("pandas", versions["pandas"], versions["pandas"], build_only=True),
            verify.PackageDiff("tensorflow", None, None, build_only=True),
        ],
        key=lambda d: d.name,
    )
    # without the label, the same image is held to the whole lock
    assert {d.name for d in verify.compare_packages(lock, installed, self_version="0.1.0")} == left_out
