"""test-image's verdict from what the image answered, without an engine: each comparison at its
limit, the request bodies, the result file and its findings. The container run that gathers the
answers is covered by the Docker tests."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from imagekit import result

from mlrelease.errors import ArtifactError, CheckFailed
from mlrelease.findings import Finding
from mlrelease.image import verify
from mlrelease.image.lockfile import Lock, read_lock
from mlrelease.image.verify import (
    CHUNK_BYTES,
    CHUNK_ROWS,
    GpuReport,
    ImageTestResult,
    Observed,
    PackageDiff,
    RowDiff,
    Tolerance,
)

NAN = float("nan")
IDS = pd.Series(["a", "b", "c", "d"])


def lock_of(tmp_path: Path, **versions: str) -> Lock:
    path = tmp_path / "requirements.txt"
    lines = [f"{name}=={version} --hash=sha256:{'0' * 64}" for name, version in versions.items()]
    path.write_text("\n".join(lines) + "\n")
    return read_lock(path)


# --- predictions -------------------------------------------------------------------------------


def test_prediction_count_must_match_the_golden_rows():
    with pytest.raises(CheckFailed) as caught:
        verify.compare_predictions(pd.Series([1.0, 2.0, 3.0]), [1.0, 2.0], IDS[:3], Tolerance())
    assert caught.value.message == "the image answered 2 predictions for 3 golden rows"


def test_a_missing_prediction_differs_and_the_max_diff_counts_only_numbers_on_both_sides():
    expected = pd.Series([1.0, 2.0, NAN, 4.0])
    diffs, max_abs = verify.compare_predictions(expected, [None, 2.5, None, 4.0], IDS, Tolerance())
    assert [(d.row_id, d.expected, d.got) for d in diffs][1:] == [("b", 2.0, 2.5)]
    assert diffs[0].row_id == "a" and diffs[0].expected == 1.0 and math.isnan(diffs[0].got)
    assert max_abs == 0.5
    # nothing comparable: no diff and no max
    assert verify.compare_predictions(pd.Series([NAN, NAN]), [None, None], IDS[:2], Tolerance()) == ([], 0.0)


def test_whole_number_answers_compare_as_numbers_whatever_their_size():
    expected = pd.Series([2.0**64, 3.0])
    assert verify.compare_predictions(expected, [2**64, 3], IDS[:2], Tolerance()) == ([], 0.0)


def test_a_text_answer_to_a_numeric_golden_row_differs():
    diffs, max_abs = verify.compare_predictions(pd.Series([1.0, 2.0]), [1.0, "n/a"], IDS[:2], Tolerance())
    assert diffs == [RowDiff("b", 2.0, "n/a")] and max_abs == 0.0


def test_number_answers_to_text_labels_differ_on_every_row():
    diffs, _ = verify.compare_predictions(pd.Series(["cat", "dog"]), [0, 1], IDS[:2], Tolerance())
    assert diffs == [RowDiff("a", "cat", 0), RowDiff("b", "dog", 1)]


def test_labels_compare_by_their_text():
    """A golden 0 and an answered "0" are the same label; 1 and "2" are not."""
    diffs, max_abs = verify.compare_predictions(pd.Series([0, 1]), ["0", "2"], IDS[:2], Tolerance())
    assert diffs == [RowDiff("b", 1, "2")] and max_abs == 0.0


@pytest.mark.parametrize(
    "answers",
    [
        [{"label": "x"}, {"label": "y"}],
        [{"value": "x"}, {"value": "y"}],
        [{"prediction": "x", "label": "other"}, {"prediction": "y", "value": "other"}],
        [{"label": "x", "value": "other"}, "y"],
    ],
)
def test_an_answer_object_gives_its_prediction_label_or_value(answers):
    assert verify.compare_predictions(pd.Series(["x", "y"]), answers, IDS[:2], Tolerance()) == ([], 0.0)


# --- class probabilities -----------------------------------------------------------------------


def proba(a: list[float], b: list[float], dtype: str = "float64") -> pd.DataFrame:
    return pd.DataFrame({"proba:a": a, "proba:b": b}, dtype=dtype)


def test_probabilities_at_the_default_tolerance_and_just_past_it():
    """rtol 1e-7 of the golden probability, no absolute slack: 0.99e-7 off passes, 1.01e-7 off is
    a cell diff naming its class; a looser tolerance would let the second through."""
    expected = proba([0.25, 0.5], [0.75, 0.5])
    inside, past = 0.25 * (1 + 0.99e-7), 0.5 * (1 - 1.01e-7)
    diffs, max_abs = verify.compare_probabilities(
        expected, [[inside, 0.75], [past, 0.5]], ["a", "b"], IDS[:2], Tolerance()
    )
    assert diffs == [RowDiff("b", 0.5, past, "proba:a")]
    assert max_abs == pytest.approx(0.505e-7)
    # the image may list the classes in another order
    diffs, _ = verify.compare_probabilities(
        expected, [[0.75, inside], [0.5, past]], ["b", "a"], IDS[:2], Tolerance()
    )
    assert diffs == [RowDiff("b", 0.5, past, "proba:a")]


def test_missing_probabilities_match_only_missing_ones():
    expected = proba([NAN, 0.5], [1.0, 0.5])
    diffs, max_abs = verify.compare_probabilities(
        expected, [[None, 0.75], [None, 0.5]], ["a", "b"], IDS[:2], Tolerance()
    )
    assert [(d.row_id, d.output, d.expected) for d in diffs] == [("a", "proba:b", 1.0), ("b", "proba:a", 0.5)]
    assert math.isnan(diffs[1].got) and diffs[0].got == 0.75
    assert max_abs == 0.25  # from the cells with a number on both sides
    nothing = verify.compare_probabilities(
        proba([NAN], [NAN]), [[None, None]], ["a", "b"], IDS[:1], Tolerance()
    )
    assert nothing == ([], 0.0)


def test_nullable_golden_probabilities_compare_like_plain_ones():
    expected = proba([None, 0.5], [1.0, 0.5], dtype="Float64")
    got = [[None, 1.0], [0.5, 0.5]]
    assert verify.compare_probabilities(expected, got, ["a", "b"], IDS[:2], Tolerance()) == ([], 0.0)


@pytest.mark.parametrize(("got", "classes"), [(None, None), ([[0.5, 0.5]], None), (None, ["a", "b"])])
def test_golden_probabilities_need_probabilities_and_classes_in_the_answer(got, classes):
    with pytest.raises(CheckFailed) as caught:
        verify.compare_probabilities(proba([0.5], [0.5]), got, classes, IDS[:1], Tolerance())
    assert caught.value.message == "the golden rows hold class probabilities, but the image answered none"
    assert caught.value.hint == (
        "the image's server predates probabilities in /predict; rebuild it with `mlrelease build`"
    )


def test_other_classes_than_the_golden_rows_name_both_lists():
    with pytest.raises(CheckFailed) as caught:
        verify.compare_probabilities(proba([0.5], [0.5]), [[0.5, 0.5]], ["a", "c"], IDS[:1], Tolerance())
    assert caught.value.message == (
        "the image answers probabilities of the classes ['a', 'c'], the golden rows of ['a', 'b']"
    )


@pytest.mark.parametrize(
    "got", [[[0.5, 0.5]], [[0.5, 0.5], [0.5]], [[0.5, 0.5], [0.5, 0.5, 0.0]], [[0.5, 0.5], {"a": 1, "b": 0}]]
)
def test_probability_rows_must_be_one_list_per_golden_row_with_one_value_per_class(got):
    with pytest.raises(CheckFailed) as caught:
        verify.compare_probabilities(proba([0.5, 0.5], [0.5, 0.5]), got, ["a", "b"], IDS[:2], Tolerance())
    assert caught.value.message == f"the image answered {len(got)} probability rows for 2 golden rows"


# --- request bodies ----------------------------------------------------------------------------


def test_a_body_is_compact_json_of_the_rows_in_order():
    records = [{"a": 1, "b": "x"}, {"a": 2.5, "b": None}]
    assert verify.chunks(records) == ['[{"a":1,"b":"x"},{"a":2.5,"b":null}]']
    assert verify.chunks([]) == []


def test_a_nan_input_is_refused_rather_than_sent_as_invalid_json():
    with pytest.raises(ValueError, match="not JSON compliant"):
        verify.chunks([{"x": NAN}])


@pytest.mark.parametrize(("rows", "sizes"), [(CHUNK_ROWS, [CHUNK_ROWS]), (CHUNK_ROWS + 1, [CHUNK_ROWS, 1])])
def test_a_body_holds_at_most_chunk_rows_rows(rows, sizes):
    bodies = verify.chunks([{"i": i} for i in range(rows)])
    assert [len(json.loads(b)) for b in bodies] == sizes
    assert [r["i"] for b in bodies for r in json.loads(b)] == list(range(rows))


@pytest.mark.parametrize(
    ("extra", "sizes"), [(0, [CHUNK_BYTES, CHUNK_BYTES]), (1, [11, CHUNK_BYTES - 9, 11, CHUNK_BYTES - 9])]
)
def test_every_body_holds_at_most_chunk_bytes_bytes(extra, sizes):
    """Two rows that make a body of exactly CHUNK_BYTES travel together; one byte more splits them."""
    filler = CHUNK_BYTES - len('[{"x":"a"},{"x":""}]')
    records = [{"x": "a"}, {"x": "b" * (filler + extra)}, {"x": "c"}, {"x": "d" * (filler + extra)}]
    bodies = verify.chunks(records)
    assert [len(b.encode()) for b in bodies] == sizes
    assert [r for b in bodies for r in json.loads(b)] == records


def test_bodies_ask_for_probabilities_only_when_the_golden_rows_hold_them():
    records = [{"x": 1}, {"x": 2}]
    plain = verify.Golden(records, pd.Series([1.0, 2.0]), IDS[:2], None)
    assert verify.predict_bodies(plain) == ['[{"x":1},{"x":2}]']
    classifier = verify.Golden(records, pd.Series(["a", "b"]), IDS[:2], proba([1.0, 0.0], [0.0, 1.0]))
    assert verify.predict_bodies(classifier) == ['{"records":[{"x":1},{"x":2}],"probabilities":true}']


# --- golden rows -------------------------------------------------------------------------------


def test_golden_inputs_become_json_values_with_missing_ones_null(tmp_path: Path):
    frame = pd.DataFrame(
        {
            "rooms": pd.array([3, None], dtype="Int64"),
            "area": np.array([50.25, 70.5], dtype="float32"),
            "floor": np.array([1, 2], dtype="uint8"),
            "sold": pd.to_datetime(["2024-05-01 12:00", None]),
            "price": [float("inf"), 2.5],
            "district": pd.array(["Brno-střed", None], dtype="string"),
            "row_id": [10, 11],
            "prediction": [1.0, 2.0],
        }
    )
    frame.to_parquet(tmp_path / "golden.parquet")
    golden = verify.load_golden(tmp_path / "golden.parquet")
    assert golden.records == [
        {
            "rooms": 3,
            "area": 50.25,
            "floor": 1,
            "sold": "2024-05-01T12:00:00",
            "price": None,
            "district": "Brno-střed",
        },
        {"rooms": None, "area": 70.5, "floor": 2, "sold": None, "price": 2.5, "district": None},
    ]
    assert [type(v) for v in golden.records[0].values()] == [int, float, int, str, type(None), str]
    assert verify.chunks(golden.records)  # every value is JSON
    assert list(golden.row_ids) == [10, 11] and golden.proba is None


# --- packages ----------------------------------------------------------------------------------


def test_packages_compare_by_normalised_name_and_exact_version(tmp_path: Path):
    lock = lock_of(tmp_path, numpy="2.1.0", scikit_learn="1.5.2", scipy="1.14.1", pandas="2.2.3")
    installed = [("NumPy", "2.1.0"), ("scikit.learn", "1.5.2"), ("pandas", "2.2.2"), ("Requests", "2.32.3")]
    assert verify.compare_packages(lock, installed, self_version=None) == [
        PackageDiff("pandas", "2.2.3", "2.2.2"),
        PackageDiff("requests", None, "2.32.3"),
        PackageDiff("scipy", "1.14.1", None),
    ]


@pytest.mark.parametrize(
    ("self_version", "installed", "diffs"),
    [
        (None, [("mlrelease", "0.1.0")], []),  # an image that does not say which mlrelease it holds
        (None, [], []),
        ("0.1.0", [("mlrelease", "0.1.0")], []),
        ("0.2.0", [("mlrelease", "0.1.0")], [PackageDiff("mlrelease", "0.2.0", "0.1.0")]),
        ("0.2.0", [], [PackageDiff("mlrelease", "0.2.0", None)]),
    ],
)
def test_mlrelease_itself_is_held_to_the_version_the_image_names(tmp_path, self_version, installed, diffs):
    lock = lock_of(tmp_path, numpy="2.1.0")
    got = verify.compare_packages(lock, [("numpy", "2.1.0"), *installed], self_version=self_version)
    assert got == diffs


def test_a_lock_that_pins_mlrelease_does_not_judge_it(tmp_path: Path):
    """mlrelease is installed from its own wheel: the image's label says which, not the handoff's lock."""
    lock = lock_of(tmp_path, numpy="2.1.0", mlrelease="0.1.0")
    installed = [("numpy", "2.1.0"), ("mlrelease", "0.3.0")]
    assert verify.compare_packages(lock, installed, self_version=None) == []
    assert verify.compare_packages(lock, installed, self_version="0.3.0") == []


# --- GPU ---------------------------------------------------------------------------------------


def test_gpu_problems_name_what_failed():
    assert GpuReport("GPU 0: H100", None, "2.5.0", True, 1).problems() == []
    assert GpuReport("GPU 0: H100", None, None, None, 0).problems() == []  # no torch: nvidia-smi decides
    assert GpuReport(None, "no devices found", "2.5.0", False, 0).problems() == [
        "nvidia-smi failed: no devices found",
        "torch 2.5.0 says torch.cuda.is_available() is False",
    ]


# --- the result and its findings ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "rows"), [(1, "rows 0"), (5, "rows 0, 1, 2, 3, 4"), (6, "rows 0, 1, 2, 3, 4 (+1 more)")]
)
def test_differing_predictions_are_one_finding_naming_the_first_five_rows(count, rows):
    found = result(row_diffs=[RowDiff(np.int64(i), 1.0, 2.0) for i in range(count)], atol=1e-9).findings()
    assert found == [
        Finding(
            "prediction-differs",
            "error",
            f"{count} of 40 predictions differ from the golden run (rtol=1e-07, atol=1e-09); {rows}",
            hint="rebuild the image from the current lock and model; --json lists every row",
            data={"rows": count},
        )
    ]


def test_each_package_off_the_lock_is_a_finding():
    diffs = [
        PackageDiff("numpy", "2.1.0", "1.26.4"),
        PackageDiff("scipy", "1.14.1", None),
        PackageDiff("six", None, "1.16.0"),
    ]
    found = result(package_diffs=diffs).findings()
    assert found == [
        Finding(
            "package-differs",
            "error",
            message,
            hint="rebuild the image from the current lock",
            data={"package": name},
        )
        for name, message in [
            ("numpy", "numpy: locked 2.1.0, installed 1.26.4"),
            ("scipy", "scipy: locked 1.14.1, installed -"),
            ("six", "six: locked -, installed 1.16.0"),
        ]
    ]


def test_each_gpu_problem_is_a_finding():
    found = result(gpu=GpuReport(None, "no devices found", "2.5.0", False, 0)).findings()
    hint = "run on a host with the NVIDIA runtime"
    assert found == [
        Finding("gpu-unavailable", "error", "nvidia-smi failed: no devices found", hint=hint),
        Finding("gpu-unavailable", "error", "torch 2.5.0 says torch.cuda.is_available() is False", hint=hint),
    ]


def test_the_result_file_reads_back_equal_with_numpy_ids_and_missing_answers_as_null(tmp_path: Path):
    written = result(
        row_diffs=[RowDiff(np.int64(7), 1.0, NAN), RowDiff("x", 0.25, 0.5, "proba:1")],
        max_abs_diff=0.5,
        classes=2,
        max_proba_diff=0.25,
        packages=40,
        package_diffs=[PackageDiff("numpy", "2.1.0", None)],
        gpu=GpuReport("GPU 0: H100", None, "2.5.0", True, 1),
    )
    path = tmp_path / "image-test.json"
    written.write(path)
    document = json.loads(path.read_text())
    assert document["ok"] is False
    assert document["row_diffs"][0] == {"row_id": 7, "expected": 1.0, "got": None, "output": "prediction"}
    back = ImageTestResult.read(path)
    assert back.row_diffs == [RowDiff(7, 1.0, None), RowDiff("x", 0.25, 0.5, "proba:1")]
    assert back.to_json() == document
    assert (back.classes, back.max_proba_diff, back.packages) == (2, 0.25, 40)
    assert back.package_diffs == written.package_diffs and back.gpu == written.gpu


def test_a_result_file_with_only_the_required_fields_reads_with_nothing_found(tmp_path: Path):
    path = tmp_path / "image-test.json"
    document = result().to_json()
    optional = ["row_diffs", "max_abs_diff", "classes", "max_proba_diff", "packages", "package_diffs", "gpu"]
    for key in optional:
        del document[key]
    path.write_text(json.dumps(document))
    assert ImageTestResult.read(path) == result()
    document.update(max_abs_diff=None, max_proba_diff=None)
    path.write_text(json.dumps(document))
    assert ImageTestResult.read(path) == result()
    assert result().to_json()["ok"] is True


def test_a_result_file_of_another_version_says_how_to_write_it_again(tmp_path: Path):
    path = tmp_path / "image-test.json"
    path.write_text(json.dumps({**result().to_json(), "schema_version": 0}))
    with pytest.raises(ArtifactError) as caught:
        ImageTestResult.read(path)
    assert "image-test.json schema_version 0 is not 1" in caught.value.message
    assert caught.value.hint == "write it again with `mlrelease test-image --json`"


# --- judging the answers -----------------------------------------------------------------------


def seen(answers: list[object], listing: object = None, **changes: object) -> Observed:
    listing = (
        {"uid": 10001, "packages": [["numpy", "2.1.0"], ["mlrelease", "0.1.0"]]}
        if listing is None
        else listing
    )
    base = {
        "reference": "m:1", "image_id": "sha256:x", "self_version": "0.1.0", "seconds_to_healthy": 1.23456,
        "answers": answers, "listing": listing,
    }  # fmt: skip
    return Observed(**{**base, **changes})  # type: ignore[arg-type]


def test_the_verdict_joins_every_answer_in_order(tmp_path: Path):
    golden = verify.Golden([{"x": 1}, {"x": 2}, {"x": 3}], pd.Series([1.0, 2.0, 3.0]), IDS[:3], None)
    answers = [{"predictions": [1.0, 2.5]}, {"predictions": [3.0]}]
    report = GpuReport("GPU 0: H100", None, None, None, 1)
    got = verify.judge(
        golden, seen(answers, gpu=report), lock_of(tmp_path, numpy="2.1.0"), Tolerance(atol=0.1)
    )
    assert got == ImageTestResult(
        reference="m:1", image_id="sha256:x", rows=3, rtol=1e-7, atol=0.1, seconds_to_healthy=1.23,
        uid=10001, row_diffs=[RowDiff("b", 2.0, 2.5)], max_abs_diff=0.5, packages=2, gpu=report,
    )  # fmt: skip


def test_the_verdict_names_packages_off_the_lock_and_mlrelease_off_the_label(tmp_path: Path):
    golden = verify.Golden([{"x": 1}], pd.Series([1.0]), IDS[:1], None)
    answers = [{"predictions": [1.0]}]
    got = verify.judge(
        golden, seen(answers, self_version="0.2.0"), lock_of(tmp_path, numpy="2.0.0"), Tolerance()
    )
    assert got.package_diffs == [
        PackageDiff("mlrelease", "0.2.0", "0.1.0"),
        PackageDiff("numpy", "2.0.0", "2.1.0"),
    ]
    assert got.row_diffs == [] and not got.ok


def test_the_verdict_of_a_classifier_compares_labels_and_probabilities(tmp_path: Path):
    golden = verify.Golden(
        [{"x": 1}, {"x": 2}], pd.Series(["a", "b"]), IDS[:2], proba([0.75, 0.25], [0.25, 0.75])
    )
    answers = [
        {"predictions": ["a"], "probabilities": [[0.75, 0.25]], "classes": ["a", "b"]},
        {"predictions": ["a"], "probabilities": [[0.5, 0.5]], "classes": ["a", "b"]},
    ]
    got = verify.judge(golden, seen(answers), lock_of(tmp_path, numpy="2.1.0"), Tolerance())
    assert got.row_diffs == [
        RowDiff("b", "b", "a"),
        RowDiff("b", 0.25, 0.5, "proba:a"),
        RowDiff("b", 0.75, 0.5, "proba:b"),
    ]
    assert (got.classes, got.max_proba_diff, got.max_abs_diff) == (2, 0.25, 0.0)
    # one answer without probabilities and the comparison cannot be made
    del answers[0]["probabilities"]
    with pytest.raises(CheckFailed, match="answered none"):
        verify.judge(golden, seen(answers), lock_of(tmp_path, numpy="2.1.0"), Tolerance())


LONG = {"status": 500, "error": "x" * 1000}


@pytest.mark.parametrize("answer", [None, [1.0], {"predictions": 1.0}, {"status": 422, "error": "bad"}, LONG])
def test_an_answer_without_a_predictions_list_is_a_failed_check(tmp_path: Path, answer):
    """The message shows the answer, up to its first 500 characters."""
    golden = verify.Golden([{"x": 1}], pd.Series([1.0]), IDS[:1], None)
    with pytest.raises(CheckFailed) as caught:
        verify.judge(golden, seen([answer]), lock_of(tmp_path, numpy="2.1.0"), Tolerance())
    assert caught.value.message == f"POST /predict answered without a predictions list: {str(answer)[:500]}"


@pytest.mark.parametrize(
    "listing",
    [
        [],
        {"packages": []},
        {"uid": 10001},
        {"uid": "10001", "packages": []},
        {"uid": 1, "packages": [["numpy"]]},
        {"uid": 1, "packages": "x" * 1000},
    ],
)
def test_a_package_listing_without_uid_and_packages_is_a_failed_check(tmp_path: Path, listing):
    golden = verify.Golden([{"x": 1}], pd.Series([1.0]), IDS[:1], None)
    with pytest.raises(CheckFailed) as caught:
        verify.judge(
            golden, seen([{"predictions": [1.0]}], listing), lock_of(tmp_path, numpy="2.1.0"), Tolerance()
        )
    message = f"listing packages: the container answered no uid and packages: {str(listing)[:500]}"
    assert caught.value.message == message


def test_a_classifiers_golden_probabilities_load_as_exactly_their_columns(tmp_path: Path):
    frame = pd.DataFrame(
        {"x": [1.0, 2.0], "row_id": [10, 11], "prediction": ["a", "b"], "proba:a": [0.75, 0.25],
         "proba:b": [0.25, 0.75]},
        index=[7, 3],
    )  # fmt: skip
    frame.to_parquet(tmp_path / "golden.parquet")
    golden = verify.load_golden(tmp_path / "golden.parquet")
    assert golden.proba is not None
    pd.testing.assert_frame_equal(golden.proba, proba([0.75, 0.25], [0.25, 0.75]))
    assert golden.records == [{"x": 1.0}, {"x": 2.0}] and list(golden.predictions) == ["a", "b"]


def test_a_compiled_only_image_is_held_to_the_lock_less_its_build_only_label(tmp_path: Path):
    """scipy is locked but the image names it build-only and does not hold it: no difference, and
    the result says what was left out; a build-only package the image still holds is named as
    such, and the result reads back from its JSON as it was written."""
    golden = verify.Golden([{"x": 1}], pd.Series([1.0]), IDS[:1], None)
    lock = lock_of(tmp_path, numpy="2.1.0", scipy="1.14.0")
    got = verify.judge(
        golden, seen([{"predictions": [1.0]}], build_only=frozenset({"scipy"})), lock, Tolerance()
    )
    assert got.ok and got.package_diffs == [] and got.build_only == ["scipy"]
    assert ImageTestResult._from_json(got.to_json()) == got

    holding = {"uid": 10001, "packages": [["numpy", "2.1.0"], ["scipy", "1.14.0"], ["mlrelease", "0.1.0"]]}
    kept = verify.judge(
        golden,
        seen([{"predictions": [1.0]}], holding, build_only=frozenset({"scipy", "pandas"})),
        lock,
        Tolerance(),
    )
    assert [f.message for f in kept.findings()] == [
        "pandas: named build-only by the image, yet locked -, installed -",
        "scipy: named build-only by the image, yet locked 1.14.0, installed 1.14.0",
    ]
    older = {k: v for k, v in kept.to_json().items() if k != "build_only"}  # written before the label
    assert ImageTestResult._from_json(older).build_only == []
