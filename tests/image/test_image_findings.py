"""An image test's verdict is a findings list: one finding per cause, through the one exit path."""

from __future__ import annotations

from imagekit import result

from mlrelease.findings import fails
from mlrelease.image.verify import GpuReport, PackageDiff, RowDiff


def test_a_reproducing_image_has_no_findings():
    assert result().findings() == [] and result().ok


def test_each_cause_is_one_error_naming_what_differs():
    rows = [RowDiff(i, 1.0, 2.0) for i in range(7)]
    found = result(
        row_diffs=rows,
        package_diffs=[PackageDiff("numpy", "1.26.4", "2.0.0")],
        gpu=GpuReport(None, "not found", None, None, 0),
    ).findings()
    assert [f.rule for f in found] == ["prediction-differs", "package-differs", "gpu-unavailable"]
    assert (
        "7 of 40 predictions differ" in found[0].message
        and "rows 0, 1, 2, 3, 4 (+2 more)" in found[0].message
    )
    assert found[1].message == "numpy: locked 1.26.4, installed 2.0.0"
    assert "nvidia-smi failed: not found" in found[2].message
    assert fails(found, "error")


def test_findings_agree_with_ok():
    cases = [
        result(),
        result(row_diffs=[RowDiff(1, 1.0, 2.0)]),
        result(gpu=GpuReport("A100", None, "2.3", False, 1)),
        result(gpu=GpuReport("A100", None, "2.3", True, 1)),
    ]
    for case in cases:
        assert case.ok is (not case.findings())
