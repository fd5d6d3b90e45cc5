"""make eval's pure parts added for issue 26: the auto curve and the simulated strokes."""

from __future__ import annotations

import numpy as np
import pytest

from loadtest.auto_curve import Photos, chosen, curve, point
from loadtest.eval import extras_markdown
from loadtest.strokes_sim import simulated_strokes


def test_the_curve_follows_each_photos_decision_exactly() -> None:
    # three photos: fast is bad where it is unsure (the third), as the score promises
    photos = Photos(
        fast_error=[0.02, 0.03, 0.20],
        pro_error=[0.02, 0.02, 0.04],
        uncertainty=[0.1, 0.3, 0.9],
        fast_s=[0.2, 0.2, 0.2],
        pro_s=[1.0, 1.0, 1.0],
        escalated_s=[1.1, 1.1, 1.1],
    )
    never, always = point({"s": photos}, 1.0), point({"s": photos}, 0.0)
    assert never.escalated == 0 and never.seconds == pytest.approx(0.2)
    assert never.errors["s"] == pytest.approx(0.25 / 0.08)
    assert (
        always.escalated == 1
        and always.errors["s"] == pytest.approx(1.0)
        and always.seconds == pytest.approx(1.1)
    )
    middle = point({"s": photos}, 0.5)  # only the third escalates
    assert middle.errors["s"] == pytest.approx((0.02 + 0.03 + 0.04) / 0.08)
    assert middle.seconds == pytest.approx((0.2 + 0.2 + 1.1) / 3)
    # within 5% of pro's error, the cheapest: t=0.1 (escalates the second and third) gives 1.0×
    pick = chosen(curve({"s": photos}))
    assert pick.within and pick.threshold == pytest.approx(0.1)
    # and it is written out (a whole hour's run was once lost to this table's formatting)
    points = curve({"s": photos})
    table = extras_markdown("defaults", [], {"auto": {"curve": points, "chosen": chosen(points)}})
    assert "Chosen: **0.100**" in table and table.count("\n| 0.") >= 2


def test_strokes_are_short_lines_inside_the_largest_wrong_regions() -> None:
    truth = np.zeros((200, 300))
    truth[50:150, 50:250] = 1  # a wide subject
    mask = truth.copy()
    mask[50:150, 150:250] = 0  # the model missed its right half
    mask[160:190, 20:80] = 1  # and kept a patch of ground
    keep, remove = simulated_strokes(truth, mask)
    assert keep is not None and remove is not None
    missed = (truth >= 0.5) & (mask < 0.5)
    kept = (truth < 0.5) & (mask >= 0.5)
    assert keep.any() and not (keep & ~missed).any()  # inside the missed region, never outside it
    assert remove.any() and not (remove & ~kept).any()
    assert keep.sum() < 0.1 * missed.sum()  # a hint, never the truth itself
    # nothing wrong: no stroke
    assert simulated_strokes(truth, truth) == (None, None)
