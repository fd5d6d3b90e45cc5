"""Which build runs: PRO_PRECISION, and auto's interleaved timing (a fake clock here)."""

from __future__ import annotations

import pytest

from wizpix.runner.precision import MARGIN, fixed, timed_choice


def test_fixed_settings_need_no_timing() -> None:
    assert fixed("fp32", True, "why").build == "fp32"
    assert fixed("int8", True, "why").build == "int8"
    assert fixed("auto", True, "why") is None  # auto measures
    no_build = fixed("auto", False, "no int8 build: the family has none")
    assert no_build.build == "fp32" and no_build.reason == "auto: no int8 build: the family has none"
    with pytest.raises(ValueError, match="PRO_PRECISION=int8, but no int8 build"):
        fixed("int8", False, "no int8 build here")


class Clock:
    """Each run advances time by the seconds its build is given."""

    def __init__(self) -> None:
        self.now = 0.0
        self.order: list[str] = []

    def __call__(self) -> float:
        return self.now

    def run(self, name: str, seconds: list[float]):
        def go() -> None:
            self.order.append(name)
            self.now += seconds.pop(0)

        return go


@pytest.mark.parametrize(
    ("fp32", "int8", "build"),
    [
        ([9.0, 2.0], [9.0, 1.0], "int8"),  # first runs (kernel choice) are left out
        ([2.0, 2.0], [1.0, 2.0 * MARGIN + 0.01], "fp32"),  # within the margin: fp32 stays
        ([2.0, 2.0], [2.0, 2.0 * MARGIN - 0.01], "int8"),
    ],
)
def test_auto_compares_the_second_runs_interleaved(fp32: list[float], int8: list[float], build: str) -> None:
    clock = Clock()
    second_fp32, second_int8 = fp32[1], int8[1]
    choice = timed_choice(clock.run("fp32", fp32), clock.run("int8", int8), threads=2, clock=clock)
    assert clock.order == ["fp32", "int8", "fp32", "int8"]
    assert choice.build == build
    assert (choice.fp32_s, choice.int8_s) == pytest.approx((second_fp32, second_int8))
    assert f"int8 {second_int8:.2f} s, fp32 {second_fp32:.2f} s an image on 2 thread(s)" in choice.reason
