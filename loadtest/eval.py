#!/usr/bin/env python3
"""Cutout quality through the real service, against hand-labelled ground truth.

    make eval                                   # the configured tiers on ../shared/eval, docs refreshed
    .venv/bin/python loadtest/eval.py --limit 100             # at most 100 pairs a set, spread over it
    .venv/bin/python loadtest/eval.py --url http://host:3000  # a running WizPix, as it is configured
    .venv/bin/python loadtest/eval.py --config u2net:FAST_MODEL_NAME=u2net \\
        --config alone:PRO_FUSE_FAST=false                    # each configuration on a fresh service
    .venv/bin/python loadtest/eval.py --data ~/my-photos      # your own images/ + masks/ (or alphas/)

Every photo goes through ``POST /remove-bg?output=mask`` of a running service (started here
unless ``--url``), one request at a time; its mask is scored as served (``loadtest/quality.py``)
and timed from the client. Beside the service, in the same run, rembg's own session for the
same weights (its recipe, not ours) cuts the same photos, so that every recipe choice is
judged on ground truth. The ``X-WizPix-Uncertainty`` of each cutout is ranked against its
real error (Spearman). Writes loadtest/results/eval.{json,md,png} and, with ``--docs``, the
table of docs/quality.md.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtest.auto_curve import LIMIT, SPEED, Photos, Point, chosen, curve  # noqa: E402
from loadtest.harness import start_wizpix  # noqa: E402
from loadtest.quality import (  # noqa: E402
    Pair,
    SaliencyScores,
    discover,
    matte_scores,
    mean_scores,
    read_grey,
    spearman,
    spread,
)
from loadtest.strokes_sim import simulated_strokes  # noqa: E402
from scripts.docs_tables import DOCS, replace_section  # noqa: E402

RESULTS = ROOT / "loadtest" / "results"
DEFAULT_DATA = Path(os.environ.get("EVAL_DIR") or ROOT.parent / "shared" / "eval")
# pro's promise against fast on a set of masks (on mattes: lower, whatever the margin)
MASK_MARGIN = 0.80


@dataclass
class Run:
    """One system (a tier of a configuration, or rembg's session) on one set."""

    system: str
    set: str
    model: str
    kind: str
    scores: SaliencyScores | None = None
    mattes: list[dict[str, float]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    maes: list[float] = field(default_factory=list)
    uncertainties: list[float] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)  # uint8, as scored: to compare runs
    served: list[str] = field(default_factory=list)  # the tier that served each (auto: either)

    @property
    def errors(self) -> list[float]:
        """Each photo's error as the set is judged: MAE on masks, SAD on mattes."""
        return self.maes if self.kind == "mask" else [row["SAD"] for row in self.mattes]

    def add(self, prediction: np.ndarray, pair: Pair, seconds: float, uncertainty: float | None) -> None:
        truth = read_grey(pair.truth)
        if prediction.shape != truth.shape:
            prediction = (
                np.asarray(
                    Image.fromarray((prediction * 255).round().astype(np.uint8)).resize(truth.shape[::-1]),
                    np.float64,
                )
                / 255
            )
        if self.kind == "mask":
            self.scores = self.scores or SaliencyScores()
            row = self.scores.add(prediction, truth)
        else:
            trimap = read_grey(pair.trimap, truth.shape[::-1]) if pair.trimap else None
            row = matte_scores(prediction, truth, trimap)
            self.mattes.append(row)
        self.maes.append(row["mae"])
        self.masks.append(np.rint(prediction * 255).astype(np.uint8))
        self.seconds.append(seconds)
        if uncertainty is not None:
            self.uncertainties.append(uncertainty)

    def summary(self) -> dict[str, float]:
        metrics = self.scores.results() if self.scores is not None else mean_scores(self.mattes)
        return {**metrics, "s/img": statistics.median(self.seconds) if self.seconds else math.nan}


def photo_bytes(pair: Pair) -> bytes:
    return pair.image.read_bytes()


@dataclass(frozen=True)
class Served:
    mask: np.ndarray  # float [0, 1]
    seconds: float
    model: str
    uncertainty: float
    quality: str  # the tier that served


def service_mask(
    client: httpx.Client, tier: str, pair: Pair, strokes: dict[str, bytes] | None = None
) -> Served:
    """The served mask of ``pair`` (with the ``keep``/``remove`` stroke PNGs given), timed."""
    files = {"file": (pair.image.name, photo_bytes(pair))}
    files |= {name: (f"{name}.png", data) for name, data in (strokes or {}).items()}
    started = time.perf_counter()
    response = client.post("/remove-bg", params={"quality": tier, "output": "mask"}, files=files)
    seconds = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{pair.image}: {response.status_code} {response.text[:300]}")
    served = response.headers.get("x-wizpix-quality", "?")
    if served != tier and not (tier == "auto" and served in ("fast", "pro")):
        raise SystemExit(f"{pair.image}: {tier} was served by {served}")
    mask = np.asarray(Image.open(io.BytesIO(response.content)).convert("L"), np.float64) / 255
    model, unsure = response.headers["x-wizpix-model"], float(response.headers["x-wizpix-uncertainty"])
    return Served(mask, seconds, model, unsure, served)


def rembg_cutter(model: str) -> Callable[[Pair], tuple[np.ndarray, float]] | None:
    """rembg's own session for ``model``, fed the file WizPix serves from BentoML's store;
    None when rembg has no session for it or the store has no file."""
    import bentoml
    from bentoml.exceptions import NotFound

    from wizpix.core.catalog import load_catalog

    spec = load_catalog().get(model)
    if spec is None or spec.kind not in ("rembg", "onnx") or spec.file is None:
        return None
    session_name = spec.rembg_session or spec.name
    from rembg.sessions import sessions

    if session_name not in sessions:
        return None
    try:
        stored = bentoml.models.get(f"{spec.name}:latest")
    except NotFound:
        return None
    home = Path(tempfile.mkdtemp(prefix="eval-rembg-"))
    (home / f"{session_name}.onnx").symlink_to(Path(stored.path) / str(stored.info.metadata["file"]))
    os.environ["U2NET_HOME"] = str(home)  # rembg finds the file there and downloads nothing
    from rembg import new_session, remove

    session = new_session(session_name)

    def cut(pair: Pair) -> tuple[np.ndarray, float]:
        image = ImageOps.exif_transpose(Image.open(pair.image)).convert("RGB")
        started = time.perf_counter()
        mask = remove(image, session=session, only_mask=True)
        return np.asarray(mask, np.float64) / 255, time.perf_counter() - started

    return cut


def evaluate_service(
    url: str, label: str, tiers: list[str], sets: dict[str, list[Pair]], bar: tqdm
) -> tuple[list[Run], dict[str, str]]:
    runs, models = [], {}
    with httpx.Client(base_url=url, timeout=600) as client:
        for tier in tiers:
            for name, pairs in sets.items():
                run = Run(f"{label} {tier}", name, "?", pairs[0].kind)
                for pair in pairs:
                    got = service_mask(client, tier, pair)
                    run.model = models[tier] = got.model
                    run.add(got.mask, pair, got.seconds, got.uncertainty)
                    run.served.append(got.quality)
                    bar.update(1)
                runs.append(run)
    return runs, models


def compare(runs: list[Run], reference: str) -> list[dict[str, object]]:
    """Every configuration's masks against the reference configuration's, the same tier on
    the same photos: the set's error as a ratio of the reference's, and how far each photo's
    mask moved (MAE between the two masks; a mask that collapses moves by more than 0.05)."""
    base = {
        (run.system.split(" ", 1)[1], run.set): run for run in runs if run.system.startswith(f"{reference} ")
    }
    rows = []
    for run in runs:
        label, _, tier = run.system.partition(" ")
        other = base.get((tier, run.set))
        if label == reference or other is None or label.startswith("rembg"):
            continue
        moved = [
            float(np.abs(a.astype(np.float64) - b).mean() / 255)
            for a, b in zip(run.masks, other.masks, strict=True)
        ]
        worst = int(np.argmax(moved))
        rows.append(
            {
                "system": run.system,
                "against": other.system,
                "set": run.set,
                "error ratio": float(np.mean(run.errors) / np.mean(other.errors)),
                "mean moved": float(np.mean(moved)),
                "max moved": moved[worst],
                "over 0.05": sum(m > 0.05 for m in moved),
            }
        )
    return rows


def correct_worst(
    client: httpx.Client, pro: dict[str, Run], pairs: dict[str, list[Pair]], count: int
) -> dict:
    """The ``count`` photos where pro errs most (by MAE, every set): a keep and a remove stroke
    simulated from the truth (loadtest/strokes_sim.py), sent with the same photo; its error
    before and after, and the seconds a correction takes (pro's mask is in the cache)."""
    ranked = sorted(
        ((mae, name, index) for name, run in pro.items() for index, mae in enumerate(run.maes)), reverse=True
    )[:count]
    before, after, seconds, strokes_sent = [], [], [], 0
    for mae, name, index in ranked:
        pair, mask = pairs[name][index], pro[name].masks[index].astype(np.float64) / 255
        truth = read_grey(pair.truth)
        painted = {}
        for kind, stroke in zip(("keep", "remove"), simulated_strokes(truth, mask), strict=True):
            if stroke is not None:
                buffer = io.BytesIO()
                Image.fromarray(stroke.astype(np.uint8) * 255).save(buffer, format="PNG")
                painted[kind] = buffer.getvalue()
        strokes_sent += len(painted)
        got = service_mask(client, "pro", pair, painted) if painted else None
        fixed = got.mask if got else mask
        if fixed.shape != truth.shape:
            fixed = (
                np.asarray(Image.fromarray(np.rint(fixed * 255).astype(np.uint8)).resize(truth.shape[::-1]))
                / 255
            )
        before.append(mae)
        after.append(float(np.abs(fixed - truth).mean()))
        if got:
            seconds.append(got.seconds)
    return {
        "photos": len(ranked),
        "strokes": strokes_sent,
        "MAE before": float(np.mean(before)),
        "MAE after": float(np.mean(after)),
        "ratio": float(np.mean(after) / np.mean(before)),
        "s/correction": statistics.median(seconds) if seconds else math.nan,
        "pro s/img": statistics.median(pro[next(iter(pro))].seconds),
    }


def evaluate_rembg(models: set[str], sets: dict[str, list[Pair]], bar: tqdm) -> list[Run]:
    runs = []
    for model in sorted(models):
        cut = rembg_cutter(model)
        if cut is None:
            continue
        for name, pairs in sets.items():
            run = Run(f"rembg {model}", name, model, pairs[0].kind)
            for pair in pairs:
                mask, seconds = cut(pair)
                run.add(mask, pair, seconds, None)
                bar.update(1)
            runs.append(run)
    return runs


def correlations(runs: list[Run]) -> dict[str, float]:
    """Spearman between X-WizPix-Uncertainty and the per-image MAE: pooled over every set
    and tier the service served, and per run."""
    served = [run for run in runs if run.uncertainties]
    pooled_u = [u for run in served for u in run.uncertainties]
    pooled_e = [e for run in served for e in run.maes]
    result = {"pooled": spearman(pooled_u, pooled_e)}
    result |= {f"{run.system} · {run.set}": spearman(run.uncertainties, run.maes) for run in served}
    return result


def margins(runs: list[Run], label: str) -> dict[str, tuple[float, bool]]:
    """pro against fast for one configuration: on a set of masks, pro's MAE at most 0.80×
    fast's; on a set of mattes, a lower SAD and a lower whole-image MAE."""
    by = {(run.system, run.set): run.summary() for run in runs}
    out: dict[str, tuple[float, bool]] = {}
    for name, kind in {run.set: run.kind for run in runs}.items():
        pro, fast = by.get((f"{label} pro", name)), by.get((f"{label} fast", name))
        if pro is None or fast is None:
            continue
        for key, limit in (("MAE", MASK_MARGIN),) if kind == "mask" else (("SAD", 1.0), ("MAE", 1.0)):
            ratio = pro[key] / fast[key] if fast[key] else math.nan
            met = ratio <= limit if kind == "mask" else ratio < limit
            out[f"{name} {key}: {'≤' if kind == 'mask' else '<'} {limit:g}× fast"] = (ratio, met)
    return out


def markdown(
    runs: list[Run], spearmans: dict[str, float], goals: dict[str, dict], counts: dict[str, int]
) -> str:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores through "
        "`POST /remove-bg?output=mask`, one request at a time; s/img is the median seen by the client "
        "(rembg: the in-process call). "
        + ", ".join(f"{name}: {n} pairs" for name, n in counts.items())
        + ".\n"
    ]
    for name in dict.fromkeys(run.set for run in runs):
        rows = [run for run in runs if run.set == name]
        keys = list(rows[0].summary())
        lines += [
            f"\n**{name}**\n",
            "| system | model | " + " | ".join(keys) + " |",
            "|---|---|" + "---|" * len(keys),
        ]
        for run in rows:
            summary = run.summary()
            cells = " | ".join(
                f"{summary[k]:.4f}" if k not in ("SAD", "Grad", "Conn") else f"{summary[k]:.2f}" for k in keys
            )
            lines.append(f"| {run.system} | `{run.model}` | {cells} |")
    lines += ["", "| pro against fast | ratio | met |", "|---|---|---|"]
    for label, figures in goals.items():
        lines += [
            f"| {label}: {figure} | {ratio:.3f} | {'yes' if met else '**no**'} |"
            for figure, (ratio, met) in figures.items()
        ]
    lines += ["", "| `X-WizPix-Uncertainty` against the per-image MAE | Spearman |", "|---|---|"]
    lines += [f"| {key} | {value:.3f} |" for key, value in spearmans.items()]
    return "\n".join(lines) + "\n"


def chart(runs: list[Run], path: Path) -> None:
    """Quality against time per image, one panel a set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(dict.fromkeys(run.set for run in runs))
    fig, axes = plt.subplots(1, len(sets), figsize=(5.5 * len(sets), 4), squeeze=False)
    for ax, name in zip(axes[0], sets, strict=True):
        for run in (r for r in runs if r.set == name):
            summary = run.summary()
            key = "MAE" if run.kind == "mask" else "SAD"
            ax.scatter(summary["s/img"], summary[key], s=40)
            ax.annotate(
                run.system,
                (summary["s/img"], summary[key]),
                fontsize=7,
                xytext=(4, 2),
                textcoords="offset points",
            )
        ax.set_xlabel("seconds per image")
        masks = next(r for r in runs if r.set == name).kind == "mask"
        ax.set_ylabel(f"{'MAE' if masks else 'SAD'} (lower is better)")
        ax.set_title(f"{name}: {'MAE' if masks else 'SAD in the unknown band'}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def auto_curve(runs: list[Run], label: str, escalated: list[Run]) -> dict[str, object]:
    """quality=auto at every threshold, from ``label``'s fast and pro runs and an escalating run."""
    by = {(run.system, run.set): run for run in runs + escalated}
    sets = {}
    for name in {run.set for run in escalated}:
        fast, pro, up = (
            by[(f"{label} fast", name)],
            by[(f"{label} pro", name)],
            by[(f"{label} escalating auto", name)],
        )
        sets[name] = Photos(
            fast.errors, pro.errors, fast.uncertainties, fast.seconds, pro.seconds, up.seconds
        )
    points = curve(sets)
    return {"curve": points, "chosen": chosen(points)}


def extras_markdown(reference: str, comparisons: list[dict], extras: dict[str, object]) -> str:
    lines: list[str] = []
    if comparisons:
        lines += [
            "",
            f"Against `{reference}` (the same tier on the same photos; error: MAE on masks, SAD on mattes; "
            "moved: the per-photo MAE between the two masks):",
            "",
            "| system | set | error × | mean moved | max moved | photos moved > 0.05 |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {c['system']} | {c['set']} | {c['error ratio']:.3f} | {c['mean moved']:.4f} | "
            f"{c['max moved']:.4f} | {c['over 0.05']} |"
            for c in comparisons
        ]
    if "auto" in extras:
        auto = extras["auto"]
        pick: Point = auto["chosen"]  # type: ignore[index]
        points: list[Point] = auto["curve"]  # type: ignore[index]
        sample = [p for p in points if round(p.threshold, 2) == p.threshold or p is pick]
        lines += [
            "",
            f"`quality=auto` at every threshold (error as a share of pro's; seconds per image, every set; "
            f"target: error ≤ {LIMIT}× pro's on every set at ≤ {SPEED}× pro's seconds). Chosen: "
            f"**{pick.threshold:.3f}**, {pick.escalated:.0%} escalated, {pick.seconds:.2f} s against pro's "
            f"{pick.pro_seconds:.2f} s ({pick.seconds / pick.pro_seconds:.2f}×), error "
            + ", ".join(f"{name} {ratio:.3f}×" for name, ratio in pick.errors.items())
            + ".",
            "",
            "| threshold | escalated | s/img | × pro's s | "
            + " | ".join(f"{n} error × pro" for n in pick.errors)
            + " |",
            "|---|---|---|---|" + "---|" * len(pick.errors),
        ]
        for p in sorted(sample, key=lambda q: q.threshold):  # each point once: one pass over points
            cells = " | ".join(f"{ratio:.3f}" for ratio in p.errors.values())
            lines.append(
                f"| {p.threshold:.3f} | {p.escalated:.0%} | {p.seconds:.2f} | "
                f"{p.seconds / p.pro_seconds:.2f} | {cells} |"
            )
    if strokes := extras.get("strokes"):
        s = strokes  # type: ignore[assignment]
        lines += [
            "",
            f"Strokes on the {s['photos']} photos where pro errs most ({s['strokes']} strokes simulated "
            f"from the truth, loadtest/strokes_sim.py): MAE {s['MAE before']:.4f} → {s['MAE after']:.4f} "
            f"(**{s['ratio']:.2f}×**; target ≤ 0.5×), {s['s/correction']:.2f} s a correction "
            f"(pro's first cut of a photo: {s['pro s/img']:.2f} s).",
        ]
    return "\n".join(lines) + ("\n" if lines else "")


def configurations(given: list[str]) -> dict[str, dict[str, str]]:
    """``NAME:VAR=VALUE,VAR=VALUE`` → {NAME: {VAR: VALUE}}; the defaults when none."""
    if not given:
        return {"defaults": {}}
    result = {}
    for item in given:
        name, _, assignments = item.partition(":")
        pairs = [a.split("=", 1) for a in assignments.split(",") if a]
        result[name] = {key: value for key, value in pairs}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help=f"labelled sets (default {DEFAULT_DATA})"
    )
    parser.add_argument("--url", help="a running WizPix, evaluated as it is configured")
    parser.add_argument(
        "--config", action="append", default=[], help="NAME:VAR=VALUE,… a configuration on a fresh service"
    )
    parser.add_argument("--tiers", default="fast,pro")
    parser.add_argument("--limit", type=int, help="at most this many pairs a set, spread over it")
    parser.add_argument("--offset", type=int, default=0, help="where the spread starts (another sample)")
    parser.add_argument("--no-rembg", action="store_true", help="leave out rembg's own sessions")
    parser.add_argument(
        "--auto-curve",
        action="store_true",
        help="quality=auto's error against seconds at every threshold, from the first configuration",
    )
    parser.add_argument(
        "--strokes",
        type=int,
        default=0,
        metavar="N",
        help="correct the N photos pro errs most on, with strokes",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--docs", action="store_true", help="refresh the table of docs/quality.md")
    args = parser.parse_args(argv)
    if not args.data.is_dir() or not (sets := discover(args.data)):
        parser.error(
            f"no labelled photos at {args.data}: pass --data DIR, a folder with images/ and masks/ "
            "(binary masks) or alphas/ (soft mattes, with trimaps/ if you have them), or a folder of such "
            "folders; or set EVAL_DIR"
        )
    sets = {name: spread(pairs, args.limit, args.offset) for name, pairs in sets.items() if pairs}
    counts = {name: len(pairs) for name, pairs in sets.items()}
    tiers = args.tiers.split(",")
    configs = {"service": {}} if args.url else configurations(args.config)
    total = sum(counts.values()) * len(tiers) * len(configs)
    runs: list[Run] = []
    served: set[str] = set()
    goals: dict[str, dict] = {}
    extras: dict[str, object] = {}
    first = next(iter(configs))
    args.out.mkdir(parents=True, exist_ok=True)
    with tqdm(total=total, unit="img", desc="eval", file=sys.stderr) as bar:
        for label, settings in configs.items():
            server = None if args.url else start_wizpix(args.out / f"eval-{label}.log", **settings)
            try:
                url = args.url or server.url
                found, models = evaluate_service(url, label, tiers, sets, bar)
                if label == first and args.strokes and "pro" in tiers:
                    pro = {run.set: run for run in found if run.system == f"{label} pro"}
                    with httpx.Client(base_url=url, timeout=600) as client:
                        extras["strokes"] = correct_worst(client, pro, sets, args.strokes)
            finally:
                if server is not None:
                    server.stop()
            runs += found
            # each model of "isnet-general-use@int8+u2netp", by its catalogue name
            served |= {part.split("@")[0] for model in models.values() for part in model.split("+")}
            goals[label] = margins(found, label)
        if args.auto_curve and not args.url:
            bar.total += sum(counts.values())
            escalating = {**configs[first], "AUTO_THRESHOLD": "0"}  # every photo escalated
            server = start_wizpix(args.out / "eval-escalating.log", **escalating)
            try:
                found, _ = evaluate_service(server.url, f"{first} escalating", ["auto"], sets, bar)
            finally:
                server.stop()
            extras["auto"] = auto_curve(runs, first, found)
        if not args.no_rembg:
            bar.total += sum(counts.values()) * len(served)
            runs += evaluate_rembg(served, sets, bar)
    spearmans = correlations(runs)
    comparisons = compare(runs, first) if len(configs) > 1 else []
    record = {
        "counts": counts,
        "runs": [{"system": r.system, "set": r.set, "model": r.model, **r.summary()} for r in runs],
        "per_image": [
            {
                "system": r.system,
                "set": r.set,
                "mae": r.maes,
                "uncertainty": r.uncertainties,
                "seconds": r.seconds,
            }
            for r in runs
        ],
        "margins": {label: {k: [ratio, met] for k, (ratio, met) in g.items()} for label, g in goals.items()},
        "spearman": spearmans,
        "against_first": comparisons,
        "strokes": extras.get("strokes"),
        "auto": [vars(p) for p in extras["auto"]["curve"]] if "auto" in extras else None,  # type: ignore[index]
    }
    (args.out / "eval.json").write_text(json.dumps(record, indent=1))  # first: the run is kept
    table = markdown(runs, spearmans, goals, counts) + extras_markdown(first, comparisons, extras)
    (args.out / "eval.md").write_text(table)
    chart(runs, args.out / "eval.png")
    if args.docs:
        picture = "![quality against time](../loadtest/results/eval.png)"
        replace_section(DOCS / "quality.md", "eval", f"{picture}\n\n{table}")
    print("\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
