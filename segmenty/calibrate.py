"""Calibrating the find decision without a single real photo of the pattern.

The decision (find.py) rests on how well the registered page explains the photo
(find.evidence_for: the median correlation of the pattern area's tiles, pose.match, or the
median score of the page's border if lower; `likeness` in results.json), and as far as it
helps, on the masks' `present` (5, below). Where to cut it is measured here, when a model is
trained, and stored in it (info["decision"], with "tiles": the tiling of the evidence it was
measured on, pose.EVIDENCE_TILES; a model calibrated before that was recorded keeps its 4 x 4
tiles until calibrate_segmenter.py measures it again):

1. Photos with the pattern: `count` samples of the `robust` recipe drawn at CALIBRATION_SIZE
   pixels with seeds training never uses (synth.generate): each one's page corners are known.
   A find whose quad overlaps the true one by IoU >= TRUE_IOU (a right pose, up to what the
   lens bends) is a true find, and its evidence counts; a pose off by more is a miss.
2. Photos without it: as many samples without the pattern (the recipe's grids, stripes and
   structures, but not the pattern's own copies, which training shows the model: cut by the
   frame, a recounted or cropped copy is what a partly framed page looks like) and the
   board-free photos of the background folder, at their own size. Any find there is a false find.
3. The threshold is the evidence level that minimises (missed true finds) + FALSE_FIND_COST x
   (false finds), raised where needed so that a normal curve fitted to the false candidates'
   evidence puts at most FALSE_RATE of them above it: a few dozen false candidates can't show
   the tail that the next thousand photos will. `scale` is the spread of a logistic curve
   through the two groups: a find's `score` is 1 / (1 + exp(-(evidence - threshold) / scale)),
   0.5 at the threshold.
4. Pages wholly in the photo (in_view >= find.WHOLE) and pages partly out of it get a threshold
   each ("threshold", and "partly"), measured on their own finds and candidates (choose_by_view),
   the partly seen one never below the whole one. A page cut to a quarter of its tiles is judged
   on those alone, and a grid passes a quarter of them far more often than all and a border: one
   such candidate used to set the threshold for every page. Where a group has fewer than
   GROUP_TRUE true finds or GROUP_FALSE false candidates, it takes the threshold of all of them.
5. The evidence cut may also weigh the model's own word: the page's evidence less `weight`
   times how far the full-pattern mask's `present` falls short of sure (find.weighed). The
   page's evidence can't tell the pattern from a near-copy of it (a square grid from a window
   grid, border and all); the model, trained against the pattern's own distractors, may. Each
   weight of PRESENT_WEIGHTS is tried on the same draws, and the one whose thresholds cost least
   (missed true finds + FALSE_FIND_COST x false finds, over all draws) is kept, the smaller on a
   tie: where the masks add nothing, the decision stays the page's. Any saving counts: judged on
   the draws each calibration of five leaves out (bench_calibration.py --weights; four models of
   two patterns), the page alone let 1.1-2.2 times as many false finds through as weight 4 and
   found no more samples with the pattern, yet keeping it unless a weight saved more than
   counting's noise (the square root of its cost) kept it in up to 10 of 56 calibrations. The
   weights stop at 4, where a mask gone from sure to a coin toss (present 0.5) costs the
   evidence's whole range (-1..1): the page, which a camera's look changes less than the
   model's confidence, stays the main witness. The page alone's thresholds are kept beside
   the weighed ones ("page_alone"): a pose they would turn down is doubtful, and a chessboard's
   is then checked against its own corners (find.doubtful), as it would be without the masks.
6. All this is done on DRAWS independent draws of samples and photos, and each threshold is the
   draws' median. One draw's cut falls where its few true finds and false candidates between the
   two crowds happen to lie: one rare false candidate (a blank sample that looks like a cut page)
   moved a chessboard model's threshold from 0.30 to 0.59. Ten draws of the same model ranged
   0.27-0.59 (sd 0.085); medians of three of them 0.31-0.42 (sd 0.03). Pooling three draws into one
   does worse (sd 0.10): the rare candidate is then in the pool, and the cost rule still weighs it
   against the few true finds near it. A square grid's draws spread most (a window grid is nearly
   a copy of it): ten single draws of one model ran 0.41-0.82 (sd 0.145), medians of three sd
   0.110, of five 0.084, of seven 0.060. Five draws take 5/3 of three's time (6-9 minutes for
   `lite` on a 2-core CPU) for a quarter less spread (bench/bench_calibration.py measures a
   model's).
7. A user may ask a find for another score than 0.5 (Segmenter.load's min_score). What each of
   MIN_SCORES would find and let through on the same draws is kept as "trades" and printed, so
   the cut can be chosen on these samples and photos rather than on the photos it will be judged on.

The shared real photos of the benches never enter this: a threshold set by looking at which of
them pass would not hold on the next camera.
"""

import math
import statistics
import sys

import cv2
import numpy as np

from segmenty import find, geometry, model as models, pose, samples, synth
from segmenty.find import UNCALIBRATED, WHOLE
from segmenty.page import from_pattern
from segmenty.segmenter import KerasPredictor, Segmenter

CALIBRATION_SIZE = 512  # samples are drawn this large: the size of a small photo, not the model's input
CALIBRATION_COUNT = 150  # samples with the pattern, and as many without
TRUE_IOU = 0.85  # a true find's quad overlaps the page's this much: the pose is right, up to the lens
FALSE_FIND_COST = 10  # a false find is as bad as this many missed ones: users act on a find
FALSE_RATE = 0.01  # ... and beyond those seen, at most this share of false candidates pass, by a normal fit
# The logistic spreads tried; never sharper than 0.02 of correlation, since a few hundred samples
# can't tell a cut that sharp from chance.
SCALES = np.geomspace(0.02, 0.5, 40)
GROUP_TRUE = 5  # choose_by_view: a group with fewer true finds than this ...
GROUP_FALSE = 10  # ... or false candidates takes the threshold of all of them
DRAWS = 5  # independent draws of `count` samples each; the thresholds are their medians
PRESENT_WEIGHTS = (0.0, 0.5, 1.0, 2.0, 4.0)  # the masks' present, weighed with the evidence (module docstring, 5)
MIN_SCORES = (0.2, 0.3, 0.5, 0.7, 0.9)  # the cuts a user may ask of a find (min_score) whose trade is reported


def true_quad(pts, page, sample_size):
    """The pattern area's corners in a sample, from its page corners (synth's pts: centre, TL, TR, BR, BL)."""
    w, h = page.size
    half_x, half_y = 0.5 * w / sample_size - 0.5, 0.5 * h / sample_size - 0.5  # the page square's corner pixels
    page_corners = geometry.rectangle(half_x, half_y, w - 1 - half_x, h - 1 - half_y)
    H = cv2.getPerspectiveTransform(np.float32(page_corners), np.float32(np.asarray(pts)[1:5]))
    return geometry.project(H, page.area)


def quad_iou(a, b):
    inter = geometry.convex_overlap(a, b)
    union = abs(geometry.signed_area(a)) + abs(geometry.signed_area(b)) - inter
    return inter / union if union > 0 else 0.0


def choose(true_evidence, false_evidence, missed_anyway=0, cost=None, false_rate=None):
    """{"threshold", "scale", ...} from the evidence of true finds and of false ones (see the module
    docstring); None without a true find. `cost` and `false_rate`, where given, replace
    FALSE_FIND_COST and FALSE_RATE (bench/bench_calibration.py tries others).

    The cuts tried lie halfway between neighbouring evidence values; of equally good ones, the
    middle one, which leaves the widest margin on both sides. It is then raised, if need be, to
    the false candidates' mean plus as many standard deviations as leave `false_rate` of a normal
    curve above it.
    """
    cost = FALSE_FIND_COST if cost is None else cost
    false_rate = FALSE_RATE if false_rate is None else false_rate
    true_evidence = np.sort(np.asarray(true_evidence, np.float64))
    false_evidence = np.sort(np.asarray(false_evidence, np.float64))
    if not len(true_evidence):
        return None
    values = np.unique(np.r_[true_evidence, false_evidence])
    cuts = np.r_[values[0] - 0.01, (values[1:] + values[:-1]) / 2, values[-1] + 0.01]
    missed = np.searchsorted(true_evidence, cuts)  # true finds below each cut
    false = len(false_evidence) - np.searchsorted(false_evidence, cuts)  # false ones at or above it
    costs = missed + cost * false
    best = cuts[costs == costs.min()]
    threshold = float(best[len(best) // 2])
    if len(false_evidence) >= 2:
        tail = false_evidence.mean() + statistics.NormalDist().inv_cdf(1 - false_rate) * false_evidence.std()
        threshold = max(threshold, float(tail))
    evidence = np.r_[true_evidence, false_evidence]
    label = np.r_[np.ones(len(true_evidence)), np.zeros(len(false_evidence))]

    def log_likelihood(scale):
        p = 1 / (1 + np.exp(-np.clip((evidence - threshold) / scale, -50, 50)))
        return float(np.sum(label * np.log(p + 1e-12) + (1 - label) * np.log(1 - p + 1e-12)))
    scale = float(max(SCALES, key=log_likelihood))
    kept = int((true_evidence >= threshold).sum())
    return {"threshold": round(threshold, 4), "scale": round(scale, 4),
            "true_finds": int(len(true_evidence)), "false_candidates": int(len(false_evidence)),
            "recall": round(kept / (len(true_evidence) + missed_anyway), 4),
            "false_finds": int((false_evidence >= threshold).sum())}


def choose_by_view(true_evidence, true_in_view, false_evidence, false_in_view, missed_anyway=0,
                   cost=None, false_rate=None):
    """choose()'s dict for pages wholly in view (in_view >= find.WHOLE), with "partly": the
    threshold and scale for pages partly out of the photo (see the module docstring); the counts
    ("true_finds", "recall", ...) are over both. None without a true find. `cost` and `false_rate`
    as choose() takes them."""
    true_evidence, false_evidence = np.asarray(true_evidence, np.float64), np.asarray(false_evidence, np.float64)
    every = choose(true_evidence, false_evidence, missed_anyway, cost, false_rate)
    if every is None:
        return None
    whole_true = np.asarray(true_in_view, np.float64) >= WHOLE
    whole_false = np.asarray(false_in_view, np.float64) >= WHOLE

    def group(true_here, false_here):
        if true_here.sum() < GROUP_TRUE or false_here.sum() < GROUP_FALSE:
            return every
        return choose(true_evidence[true_here], false_evidence[false_here], cost=cost, false_rate=false_rate)
    whole, partly = group(whole_true, whole_false), group(~whole_true, ~whole_false)
    partly = {"threshold": max(partly["threshold"], whole["threshold"]), "scale": partly["scale"]}
    return {**every, "threshold": whole["threshold"], "scale": whole["scale"], "partly": partly,
            **_outcome(true_evidence, true_in_view, false_evidence, false_in_view, missed_anyway,
                       whole["threshold"], partly["threshold"])}


def _outcome(true_evidence, true_in_view, false_evidence, false_in_view, missed_anyway, whole, partly):
    """{"recall", "false_finds"} at the thresholds `whole` and `partly`."""
    cut = np.where(np.asarray(true_in_view) >= WHOLE, whole, partly)
    false_cut = np.where(np.asarray(false_in_view) >= WHOLE, whole, partly)
    return {"recall": round(int((np.asarray(true_evidence) >= cut).sum()) / (len(true_evidence) + missed_anyway), 4),
            "false_finds": int((np.asarray(false_evidence) >= false_cut).sum())}


def weighed(evidence, weight):
    """choose_by_view's arguments from a draw's evidence (draw_evidence's 7-tuple), the masks'
    present weighed by `weight` (find.weighed)."""
    true_evidence, true_in_view, true_present, false_evidence, false_in_view, false_present, missed = evidence
    calibration = {"present_weight": weight}

    def cut(evidence, present):
        return np.array([find.weighed(e, None if np.isnan(p) else p, calibration)
                         for e, p in zip(evidence, present)], np.float64)
    return cut(true_evidence, true_present), true_in_view, cut(false_evidence, false_present), false_in_view, missed


def decide_draws(evidence, weights=PRESENT_WEIGHTS, cost=None, false_rate=None):
    """The decision of the draws' evidence (draw_evidence's 7-tuples): median_of_draws at the weight
    of `weights` that costs least, the smaller on a tie (module docstring, 5), with it as
    "present_weight"; None if no draw had a true find. The first of `weights` stands for the page
    alone (PRESENT_WEIGHTS start at 0); a single weight is simply applied. `cost` and
    `false_rate` as choose() takes them."""
    decisions, costs, weighed_evidence = [], [], []
    for weight in weights:
        each = [weighed(e, weight) for e in evidence]
        decision = median_of_draws([choose_by_view(*e, cost=cost, false_rate=false_rate) for e in each], each)
        if decision is None:
            return None
        decisions.append({**decision, "present_weight": weight})
        costs.append(sum(_cost(e, decision, cost) for e in each))
        weighed_evidence.append(each)
    best = int(np.argmin(costs))  # the first of equals: the smaller weight
    chosen = {**decisions[best], "trades": trades(decisions[best], weighed_evidence[best])}
    if best == 0:
        return chosen
    # The page alone's thresholds stay beside the weighed ones: a pose they would turn down is
    # doubtful (find.doubtful), and is checked against the pattern's own corners.
    alone = {k: decisions[0][k] for k in ("threshold", "scale", "partly")}
    return {**chosen, "page_alone": alone}


def trades(decision, evidence):
    """What a user's min_score (Segmenter.load) would trade on the draws' samples and photos:
    [min_score, recall, false finds] for each of MIN_SCORES, a find being score_of >= min_score
    with the decision's thresholds and scales. `evidence`: choose_by_view's arguments, one per draw."""
    true_evidence, true_in_view, false_evidence, false_in_view = (
        np.concatenate([np.asarray(e[i], np.float64) for e in evidence]) for i in range(4))
    missed = sum(e[4] for e in evidence)
    rows = []
    for cut in MIN_SCORES:
        logit = math.log(cut / (1 - cut))  # score_of(evidence) >= cut where evidence >= threshold + scale x logit
        whole, partly = (d["threshold"] + max(d["scale"], 1e-6) * logit for d in (decision, decision["partly"]))
        outcome = _outcome(true_evidence, true_in_view, false_evidence, false_in_view, missed, whole, partly)
        rows.append([cut, outcome["recall"], outcome["false_finds"]])
    return rows


def _cost(evidence, decision, cost=None):
    """Missed true finds + `cost` x false finds of one draw (choose_by_view's arguments)
    at a decision's thresholds."""
    cost = FALSE_FIND_COST if cost is None else cost
    true_evidence, true_in_view, false_evidence, false_in_view, _ = evidence
    whole, partly = decision["threshold"], decision["partly"]["threshold"]
    true_cut = np.where(np.asarray(true_in_view) >= WHOLE, whole, partly)
    false_cut = np.where(np.asarray(false_in_view) >= WHOLE, whole, partly)
    return int((np.asarray(true_evidence) < true_cut).sum()) + \
        cost * int((np.asarray(false_evidence) >= false_cut).sum())


def median_of_draws(decisions, evidence):
    """One decision from the decisions of independent draws (choose_by_view's dicts, None where a
    draw had no true find) and their evidence (choose_by_view's arguments): the median threshold
    and scale of each kind, with the counts, recall and false finds over all draws. The draws'
    own thresholds are kept, [whole, partly] each (None for a draw without a true find), as
    "draws". None if no draw had a true find."""
    kept = [d for d in decisions if d is not None]
    if not kept:
        return None
    def median(key, kind=None):
        return round(float(np.median([(d[kind] if kind else d)[key] for d in kept])), 4)
    whole = median("threshold")
    partly = {"threshold": max(median("threshold", "partly"), whole), "scale": median("scale", "partly")}
    true_evidence, true_in_view, false_evidence, false_in_view = (
        np.concatenate([np.asarray(e[i], np.float64) for e in evidence]) for i in range(4))
    missed = sum(e[4] for e in evidence)
    return {"threshold": whole, "scale": median("scale"), "partly": partly,
            "true_finds": len(true_evidence), "false_candidates": len(false_evidence),
            **_outcome(true_evidence, true_in_view, false_evidence, false_in_view, missed, whole, partly["threshold"]),
            "draws": [[d["threshold"], d["partly"]["threshold"]] if d else None for d in decisions]}


def describe(decision):
    """The decision's thresholds in words, for the scripts' messages."""
    partly = decision.get("partly", {}).get("threshold", decision["threshold"])
    weight = decision.get("present_weight", 0.0)
    return ("evidence" + (f" - {weight:g} x (1 - present)" if weight else "") + f" >= {decision['threshold']}"
            + (f" ({partly} for a page partly out of the photo)" if partly != decision["threshold"] else ""))


def describe_trades(decision):
    """What min_score trades on the calibration's samples, in words, for the scripts' messages."""
    rows = decision.get("trades")
    if not rows:
        return "no trades measured"
    cuts, recalls, falses = zip(*rows)
    return (f"--min-score {' / '.join(f'{c:g}' for c in cuts)} would find {' / '.join(f'{r:.3f}' for r in recalls)}"
            f" of these samples with the pattern, with {' / '.join(str(f) for f in falses)} false finds "
            f"(of {decision.get('false_candidates', '?')} candidates)")


def print_draw(done, draws, decision):
    """calibrate()'s `progress` for the scripts: one line per draw on stderr."""
    print(f"  draw {done} of {draws}: " + (describe(decision) if decision else "no sample posed right"),
          file=sys.stderr, flush=True)


def describe_draws(decision):
    """The draws' own thresholds in words, for the scripts' messages: how far one draw could be trusted."""
    draws = decision.get("draws", [])
    each = [("no sample posed right" if d is None else f"{d[0]}" + (f" ({d[1]})" if d[1] != d[0] else "")) for d in draws]
    return f"the {len(draws)} draws' thresholds: " + ", ".join(each) if draws else "one draw"


def calibrate(segmenter, context, photos=(), count=CALIBRATION_COUNT, seed=0, draws=DRAWS, photos_limit=None,
              progress=None):
    """Measure the decision's threshold for a segmenter (see the module docstring).

    Args:
        segmenter: segmenter.Segmenter with coordinate outputs and a page; its own calibration is ignored.
        context: synth.Context of the `robust` recipe at CALIBRATION_SIZE, with the pattern.
        photos: paths of board-free photos; each draw takes its own `photos_limit` of them.
        count: int, samples with the pattern, and as many without, in each draw. Defaults to CALIBRATION_COUNT.
        seed: int, for the samples (kept apart from training's seeds by a fixed offset).
        draws: int, independent draws. Defaults to DRAWS.
        photos_limit: int or None, at most this many board-free photos in a draw (default: `count`).
        progress: callable(draws done, draws, that draw's decision or None) or None, called after each draw.

    Returns:
        dict for info["decision"] (median_of_draws), or None when no true find could be made.
    """
    if draws < 1:
        raise ValueError(f"Expected at least one draw, received draws={draws}")
    photos = list(photos)
    evidence = []
    for draw in range(draws):
        evidence.append(one_draw(segmenter, context, photos, count, seed, draw, photos_limit))
        if progress:
            progress(draw + 1, draws, decide_draws(evidence[-1:]))
    decision = decide_draws(evidence)
    # The thresholds hold for the evidence of the tiling they were measured on (find.evidence_for).
    return None if decision is None else {**decision, "tiles": segmenter.page.tiles}


def one_draw(segmenter, context, photos, count, seed, draw, photos_limit=None):
    """Draw number `draw` of `seed`, as calibrate() makes it: draw_evidence() on its own samples and
    its own `photos_limit` (default `count`) of the photos."""
    rng = np.random.default_rng([seed, 15485863, draw])
    chosen = [photos[i] for i in rng.permutation(len(photos))[:photos_limit or count]]
    return draw_evidence(segmenter, context, chosen, count, [seed, 104729, draw])


def draw_evidence(segmenter, context, photos, count, key):
    """One draw: (true_evidence, true_in_view, true_present, false_evidence, false_in_view,
    false_present, missed), from `count` samples with the pattern and as many without (sample i
    drawn with the seed key + [i]) and the photos; `weighed` makes choose_by_view's arguments of it.
    present is NaN where the masks never saw the page (find.weighed then leaves it out)."""
    samples_with, samples_without = [], []
    for i in range(2 * count):
        rng = np.random.default_rng([*key, i])
        blank = i >= count
        params = synth.sample_params(rng, context)
        params["blank"] = blank
        if params.get("own_distractor"):
            params["own_distractor"] = None  # cut by the frame, a copy of the page is what a partly framed page looks like
        image, _, pts = synth.render(params, context)
        (samples_without if blank or pts is None else samples_with).append((image[..., ::-1].copy(), pts))
    true_finds, false_finds, missed = [], [], 0
    finds = segmenter.find_all([image for image, _ in samples_with])
    for (_, pts), f in zip(samples_with, finds):
        # A pose off by more than the lens can explain is a miss, not a false find: the page is there.
        if f.likeness is not None and quad_iou(f.quad, true_quad(pts, segmenter.page, context.size)) >= TRUE_IOU:
            true_finds.append((f.likeness, f.in_view or 0.0, np.nan if f.present is None else f.present))
        else:
            missed += 1
    for f in segmenter.find_all([image for image, _ in samples_without] + list(photos)):
        if f.likeness is not None:
            false_finds.append((f.likeness, f.in_view or 0.0, np.nan if f.present is None else f.present))
    true_finds, false_finds = np.reshape(true_finds, (-1, 3)), np.reshape(false_finds, (-1, 3))
    return (true_finds[:, 0], true_finds[:, 1], true_finds[:, 2], false_finds[:, 0], false_finds[:, 1],
            false_finds[:, 2], missed)


def calibrate_model(predictor, info, pattern, backgrounds, count=CALIBRATION_COUNT, seed=0, photos_limit=None,
                    draws=DRAWS, progress=None, workers=0):
    """The page and the decision to store in a model's info, measured with its predictor.

    Args:
        predictor: segmenter.KerasPredictor (or any with .batch_size and __call__), the model.
        info: dict, the model's info (mask_names, image_size, config, thresholds, ...).
        pattern: str, the pattern folder the model was trained on.
        backgrounds: str, a background folder (photos in its subfolders) without the pattern.
        count: int, samples with the pattern, and as many without. Defaults to CALIBRATION_COUNT.
        seed: int. Defaults to 0.
        photos_limit: int or None, at most this many board-free photos in a draw (default: `count`).
        draws: int, independent draws. Defaults to DRAWS.
        progress: as calibrate() takes it.
        workers: int, processes that pose and decide the samples side by side (Segmenter). Defaults to 0.

    Returns:
        dict {"page": Page.to_info(), "decision": median_of_draws()'s dict or None}.
    """
    segmenter, context, photos = setup(predictor, info, pattern, backgrounds, workers)
    with segmenter:
        return {"page": segmenter.page.to_info(),
                "decision": calibrate(segmenter, context, photos, count, seed, draws, photos_limit, progress)}


def setup(predictor, info, pattern, backgrounds, workers=0):
    """(segmenter, context, photos) that calibrate() takes, for a model's predictor and info (see
    calibrate_model)."""
    page = from_pattern(pattern)
    # Any calibration makes the decision rest on the registered page's evidence, which is what's
    # measured. A photo's candidates are posed until one passes the uncalibrated cut, and the best
    # answers: its evidence is the most that photo could show the decision.
    segmenter = Segmenter(predictor, {**info, "page": page.to_info(),
                                      "decision": {**UNCALIBRATED, "tiles": pose.EVIDENCE_TILES}}, workers=workers)
    context = samples.make_context(backgrounds, pattern, CALIBRATION_SIZE, 0.0, "robust")
    return segmenter, context, samples.background_paths(backgrounds)


def as_a_cpu_runs_it(path):
    """(net, info, predictor) of a saved model, the predictor in float32."""
    net, info = models.load(path)
    # Measured as a CPU runs it (float32), as training measures it when it ends: a model trained
    # in bf16 gives other masks in bf16, and its threshold moved by 0.1.
    return net, info, KerasPredictor(models.with_policy(net, info, "float32"), info)


def update(path, pattern, backgrounds, count=CALIBRATION_COUNT, seed=0, draws=DRAWS, progress=None, workers=0):
    """Calibrate a saved model in place (see calibrate_model); returns the decision."""
    net, info, predictor = as_a_cpu_runs_it(path)
    found = calibrate_model(predictor, info, pattern, backgrounds, count, seed, draws=draws, progress=progress,
                            workers=workers)
    models.save(net, path, {**info, **found})
    return found["decision"]
