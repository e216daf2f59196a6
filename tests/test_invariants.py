"""The results files' invariants (``tests/invariants.py``) on small records shaped like the
notebooks' files: what holds passes, each broken guarantee fails with its key."""

from __future__ import annotations

import copy

import pytest
from invariants import violations

B2 = {
    "bicubic": {"psnr": 26.17, "ssim": 0.77, "reflectance_l1": 0.0007, "hallucination": 0.004},
    "esrt": {"psnr": 26.30, "ssim": 0.77, "reflectance_l1": 0.0022, "hallucination": 0.027},
    "error_budget_psnr": {"bicubic": 26.17, "target_radiometry": 32.10, "target_detail": 27.74},
    "esrt_over_bicubic_psnr": 0.13,
    "esrt_over_bicubic_psnr_ci95": [0.05, 0.21],
}
A3 = {
    "rows": [
        {"method": m, "labels_percent": p, "labels": n, "accuracy_mean": a, "accuracy_sd": 0.05}
        for m, a in (("majority", 0.12), ("ssl_probe", 0.4))
        for p, n in ((1.0, 10), (10.0, 88), (100.0, 880))
    ],
    "directions_points": {"ssl_probe_over_random_probe_at_low": -4.2},
}
C3 = {
    "curves": {s: [[8, 0.30, 0.01], [12, 0.35, 0.02], [16, 0.4, 0.0]] for s in ("random", "bald")},
    "label_savings": 0.2,
}
D2 = {
    "rows": [
        {"method": "u-net", "iou": 0.25, "f1": 0.4, "iou_ci95": [0.2, 0.3]},
        {"method": "index_threshold", "iou": 0.0562, "f1": 0.1065, "sign": -1},
    ]
}
VALID = {"B2": B2, "A3": A3, "C3": C3, "D2": D2}


@pytest.mark.parametrize("name", VALID)
def test_records_that_keep_their_guarantees_pass(name: str) -> None:
    assert violations(VALID[name]) == []


def broken(record: dict, change) -> list[str]:
    record = copy.deepcopy(record)
    change(record)
    return violations(record)


@pytest.mark.parametrize(
    "name, change, message",
    [
        ("B2", lambda r: r["esrt"].update(ssim=1.2), "esrt.ssim = 1.2 is outside [0, 1]"),
        ("B2", lambda r: r["esrt"].update(psnr=float("nan")), "esrt.psnr = nan is not finite"),
        ("B2", lambda r: r["esrt"].update(psnr=33.0), "above the error budget's best oracle"),
        ("B2", lambda r: r["error_budget_psnr"].update(target_detail=25.0), "below bicubic"),
        ("B2", lambda r: r["bicubic"].update(psnr=26.5), "is not the budget's"),
        ("B2", lambda r: r["bicubic"].update(reflectance_l1=0.02), "no longer keeps its input"),
        ("B2", lambda r: r.update(esrt_over_bicubic_psnr=0.3), "does not contain"),
        ("B2", lambda r: r.update(esrt_over_bicubic_psnr_ci95=[0.2, 0.1]), "low above high"),
        ("B2", lambda r: r.update(esrt_over_bicubic_psnr_ci95=[0.1]), "is not [low, high]"),
        (
            "B2",
            lambda r: r["esrt"].update(improvement=0.3, omission=0.6, hallucination=0.2),
            "do not sum to 1",
        ),
        ("A3", lambda r: r["rows"][0].update(accuracy_mean=36.5), "outside [0, 1]"),
        ("A3", lambda r: r["rows"][0].update(accuracy_sd=-0.1), "is below 0"),
        ("A3", lambda r: r["rows"][0].update(labels=11), "one draw, one count"),
        ("A3", lambda r: r["rows"][1].update(labels=5), "one draw, one count"),
        ("A3", lambda r: r["rows"][0].update(labels_percent=101.0), "outside [0, 100]"),
        ("C3", lambda r: r["curves"]["bald"][1].__setitem__(0, 13), "label counts differ"),
        (
            "C3",
            lambda r: [c[2].__setitem__(0, 24) for c in r["curves"].values()],
            "do not grow by one batch",
        ),
        ("C3", lambda r: r["curves"]["bald"][0].__setitem__(2, -0.1), "sd -0.1"),
        ("D2", lambda r: r["rows"][0].update(f1=0.3), "is not 2 iou / (1 + iou)"),
        ("D2", lambda r: r["rows"][0].update(images=-1), "a count below 0"),
        ("D2", lambda r: r["rows"][1].update(iou_water=1.5), "outside [0, 1]"),
    ],
)
def test_a_broken_guarantee_fails_with_its_key(name: str, change, message: str) -> None:
    found = broken(VALID[name], change)
    assert any(message in problem for problem in found), found


def test_parts_stay_below_their_whole_and_comparisons_keep_their_sign() -> None:
    record = {"stac_items_found": 4, "stac_items_clear": 5, "steps": 10, "planned_steps": 12}
    assert violations(record) == ["stac_items_clear = 5 above stac_items_found = 4"]
    # a gap in points, of either sign, is no IoU
    assert violations({"multitask_gap": {"f1": 2.2, "miou": -1.0}}) == []
    assert violations({"miou": -1.0, "miou_ci95": [-2.0, 0.5]}) == []
