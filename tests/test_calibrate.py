import types

import numpy as np
import pytest

from segmenty import calibrate, find, geometry, synth
from segmenty.page import from_pattern
from segmenty.patterns import make_patterns


def test_the_cut_minimises_misses_plus_costly_false_finds(monkeypatch):
    monkeypatch.setattr(calibrate, "FALSE_RATE", 0.5)  # the normal tail no higher than the false mean
    trues = [0.60, 0.75, 0.80, 0.85, 0.90]
    # A false find at 0.7: keeping it costs FALSE_FIND_COST (10), dropping the true find at 0.6 costs 1.
    d = calibrate.choose(trues, [0.1, 0.2, 0.7])
    assert d["threshold"] == pytest.approx(0.725) and d["false_finds"] == 0 and d["recall"] == 0.8
    # Eleven true finds under a false one: now they are worth more than it.
    d = calibrate.choose([0.5] * 11 + [0.9], [0.6])
    assert d["threshold"] < 0.5 and d["false_finds"] == 1
    assert calibrate.choose([], [0.3]) is None


def test_the_threshold_clears_the_false_candidates_normal_tail():
    # Fifty false candidates seen, all under 0.4: the next thousand photos would show more.
    false = np.linspace(-1, 1, 50) * 0.1 * np.sqrt(3) + 0.2  # mean 0.2, standard deviation about 0.1
    d = calibrate.choose([0.42, 0.8, 0.9, 0.95], false)
    tail = false.mean() + 2.326 * false.std()
    assert false.max() < 0.4 < d["threshold"] == pytest.approx(tail, abs=1e-3)
    assert d["recall"] == 0.75 and d["false_finds"] == 0


def test_the_logistic_spread_follows_the_overlap():
    rng = np.random.default_rng(0)
    apart = calibrate.choose(rng.normal(0.9, 0.02, 200), rng.normal(0.1, 0.02, 200))
    close = calibrate.choose(rng.normal(0.6, 0.15, 200), rng.normal(0.3, 0.15, 200))
    assert apart["scale"] == calibrate.SCALES.min() < close["scale"]
    assert 0.3 < close["threshold"] < 0.7 and apart["recall"] == 1.0


def test_pages_partly_in_view_get_their_own_threshold_never_below_the_whole_ones():
    rng = np.random.default_rng(0)
    true = rng.uniform(0.75, 1.0, 60)
    true_in_view = np.r_[np.ones(40), np.full(20, 0.6)]
    # Whole pages' false candidates stay under 0.4; one cut to a few tiles reaches 0.7.
    false = np.r_[rng.uniform(0.0, 0.4, 40), rng.uniform(0.0, 0.4, 19), 0.7]
    false_in_view = np.r_[np.ones(40), np.full(20, 0.5)]
    d = calibrate.choose_by_view(true, true_in_view, false, false_in_view)
    assert d["threshold"] < 0.7 and d["partly"]["threshold"] > 0.7
    assert calibrate.choose(true, false)["threshold"] > 0.7  # one threshold for all: the cut page's
    assert d["false_finds"] == 0 and d["true_finds"] == 60
    kept = ((true >= d["threshold"]) & (true_in_view == 1)).sum() + ((true >= d["partly"]["threshold"])
                                                                     & (true_in_view < 1)).sum()
    assert d["recall"] == round(kept / 60, 4)
    # Partly seen pages whose candidates happen to sit lower still need what whole ones need.
    d = calibrate.choose_by_view(true, true_in_view, false[::-1], false_in_view)
    assert d["partly"]["threshold"] >= d["threshold"]


def test_a_group_too_small_to_measure_takes_the_threshold_of_all():
    true, false = [0.8, 0.9, 0.95, 0.85, 0.9, 0.7], [0.2, 0.3] * 10
    # Two true finds partly in view: too few for a threshold of their own.
    d = calibrate.choose_by_view(true, [1, 1, 1, 1, 0.5, 0.5], false, [1.0] * 20)
    every = calibrate.choose(true, false)
    assert d["partly"]["threshold"] == max(every["threshold"], d["threshold"])
    assert calibrate.choose_by_view([], [], false, [1.0] * 20) is None


def test_the_true_quad_of_a_sample_covers_its_pattern_mask(tmp_path):
    from segmenty.backgrounds import fetch_backgrounds
    make_patterns(str(tmp_path / "chess"), "chessboard", 10, 7)
    fetch_backgrounds(out=str(tmp_path / "bg"), synthetic=4, seed=1)
    from segmenty.samples import make_context
    ctx = make_context(str(tmp_path / "bg"), str(tmp_path / "chess"), 256, 0.0, "robust")
    page = from_pattern(str(tmp_path / "chess"))
    overlaps = []
    for i in range(20):
        image, masks, pts, _ = synth.generate(np.random.default_rng([5, i]), ctx)
        truth = masks[..., 0] > 127
        if pts is None or truth.sum() < 500:  # a sliver: a pixel of outline is much of it
            continue
        drawn = geometry.quad_coverage(calibrate.true_quad(pts, page, 256), truth.shape) > 127
        overlaps.append((truth & drawn).sum() / (truth | drawn).sum())
    # The lens bends the page's edges a little, which a quad can't follow.
    assert len(overlaps) >= 10 and np.median(overlaps) > 0.95 and min(overlaps) > 0.8


class Oracle:
    """A stand-in segmenter that knows where each sample's page is: a right pose with evidence 0.9
    on every other sample with the pattern, a pose half a page off on the rest, and evidence 0.3
    wherever there is no pattern."""

    def __init__(self, page, truths):
        self.page, self.truths, self.calls = page, truths, []

    def find_all(self, images):
        from segmenty.find import Find
        out = []
        for image in images:
            key = image.tobytes()[:4096]
            self.calls.append(key)
            quad = self.truths.get(key)
            if quad is None:
                out.append(Find(found=True, score=0.1, size=(1, 1), quad=np.float64([[0, 0], [9, 0], [9, 9], [0, 9]]),
                                likeness=0.3, in_view=0.4, present=None))
            elif len(self.calls) % 2:
                out.append(Find(found=True, score=0.9, size=(1, 1), quad=quad, likeness=0.9, in_view=1.0,
                                present=0.95))
            else:
                out.append(Find(found=True, score=0.9, size=(1, 1), quad=quad + np.ptp(quad, axis=0) / 2, likeness=0.8))
        return out


def test_calibration_counts_right_poses_misses_and_false_finds(tmp_path):
    from segmenty.backgrounds import fetch_backgrounds
    from segmenty.samples import make_context
    make_patterns(str(tmp_path / "chess"), "chessboard", 10, 7)
    fetch_backgrounds(out=str(tmp_path / "bg"), synthetic=4, seed=1)
    context = make_context(str(tmp_path / "bg"), str(tmp_path / "chess"), 128, 0.0, "robust")
    page = from_pattern(str(tmp_path / "chess"))
    truths = {}
    for i in range(8):  # the samples a draw makes: the same seeds give the same images
        params = synth.sample_params(np.random.default_rng([0, 104729, 0, i]), context)
        params["blank"] = False
        params["own_distractor"] = None
        image, _, pts = synth.render(params, context)
        truths[image[..., ::-1].tobytes()[:4096]] = calibrate.true_quad(pts, page, 128)
    evidence = calibrate.draw_evidence(Oracle(page, truths), context, [], 8, [0, 104729, 0])
    true_evidence, true_in_view, true_present, false_evidence, false_in_view, false_present, missed = evidence
    assert list(true_evidence) == [0.9] * 4 and missed == 4  # half a page off is a miss, not a false find
    assert list(true_in_view) == [1.0] * 4 and list(true_present) == [0.95] * 4
    assert list(false_evidence) == [0.3] * 8 and list(false_in_view) == [0.4] * 8  # the eight samples without it
    assert np.isnan(false_present).all()  # no model run saw them: the page alone is judged


def test_each_draw_has_its_own_samples_and_photos_and_the_median_decides(monkeypatch):
    keys, photos_seen, evidence, decisions = [], [], [], []

    def draw(segmenter, context, photos, count, key):
        keys.append(key)
        photos_seen.append(photos)
        level = {0: 0.3, 1: 0.9, 2: 0.5}[key[-1]]  # the draws' cuts: the false candidates' top
        evidence.append(([level + 0.05] * 10, [1.0] * 10, [1.0] * 10, [level] * 20, [1.0] * 20, [1.0] * 20, 5))
        decisions.append(calibrate.choose_by_view(*calibrate.weighed(evidence[-1], 0.0)))
        return evidence[-1]
    monkeypatch.setattr(calibrate, "draw_evidence", draw)
    photos = [f"photo{i}.jpg" for i in range(40)]
    done = []
    segmenter = types.SimpleNamespace(page=types.SimpleNamespace(tiles=8))  # draw_evidence's stand-in needs none
    d = calibrate.calibrate(segmenter, None, photos, count=10, seed=7, draws=3,
                            progress=lambda i, n, decision: done.append((i, n, decision["threshold"])))
    assert done == [(1, 3, 0.325), (2, 3, 0.925), (3, 3, 0.525)]
    assert keys == [[7, 104729, 0], [7, 104729, 1], [7, 104729, 2]]
    assert all(len(p) == 10 for p in photos_seen) and photos_seen[0] != photos_seen[1]
    assert [w for w, _ in d["draws"]] == pytest.approx([0.325, 0.925, 0.525])
    assert d["threshold"] == d["draws"][2][0]  # the median draw's, not the pool's
    assert d["true_finds"] == 30 and d["false_candidates"] == 60
    assert d["false_finds"] == 20  # the 0.9 draw's candidates pass the median threshold
    assert d["recall"] == round(20 / 45, 4)  # true finds above it, of all samples with the pattern
    assert calibrate.describe_draws(d) == "the 3 draws' thresholds: 0.325, 0.925, 0.525"
    assert d["present_weight"] == 0.0  # every mask sure alike: the masks add nothing, the page decides
    assert d["tiles"] == 8  # the tiling the evidence was measured on, which the thresholds hold for
    # A draw without a true find has no say, and the message says so.
    none_first = calibrate.median_of_draws([None, *decisions[:2]], [([], [], [0.1], [1.0], 10),
                                                                    *(calibrate.weighed(e, 0.0) for e in evidence[:2])])
    assert none_first["threshold"] == pytest.approx(0.625) and none_first["draws"][0] is None
    assert calibrate.describe_draws(none_first).startswith("the 3 draws' thresholds: no sample posed right, 0.325")
    with pytest.raises(ValueError, match="received draws=0"):
        calibrate.calibrate(None, None, photos, draws=0)


def test_the_masks_present_is_weighed_where_it_tells_a_near_copy_from_the_pattern():
    # A window grid explains a square grid's page as well as the page itself (0.7 against 0.6),
    # but the model, trained against such copies, is less sure of it (present 0.8 against 0.99).
    rng = np.random.default_rng(0)
    true = (rng.normal(0.6, 0.01, 40), np.ones(40), rng.normal(0.99, 0.003, 40))
    false = (rng.normal(0.7, 0.01, 40), np.ones(40), rng.normal(0.8, 0.01, 40))
    draws = [(*true, *false, 0)] * 3
    d = calibrate.decide_draws(draws)
    assert d["present_weight"] == 1.0  # the least weight that parts them; more costs nothing more
    assert d["recall"] == 1.0 and d["false_finds"] == 0
    assert calibrate.describe(d).startswith("evidence - 1 x (1 - present) >= ")
    assert find.score_of(0.6, d, 1.0, present=0.99) > 0.5 > find.score_of(0.7, d, 1.0, present=0.8)
    # The page alone's thresholds stay beside, for doubtful poses (find.doubtful): above the true finds.
    assert d["page_alone"]["threshold"] > 0.6 and "present_weight" not in d["page_alone"]
    # Where the model is as sure of the copies, its word is left out.
    alike = [(*true, false[0], false[1], rng.normal(0.99, 0.003, 40), 0)] * 3
    assert calibrate.decide_draws(alike)["present_weight"] == 0.0
    assert "page_alone" not in calibrate.decide_draws(alike)


def test_a_weight_is_kept_for_any_saving_however_small_beside_the_misses_no_weight_helps():
    # Per draw: 40 true finds well above 40 false candidates, 20 under all of them (missed at any
    # weight), and one near the one false candidate that the model doubts (present 0.7).
    true = ([0.6] * 40 + [-0.5] * 20 + [0.25], [1.0] * 61, [0.99] * 61)
    false = ([0.0] * 40 + [0.3], [1.0] * 41, [0.99] * 40 + [0.7])
    draws = [(*true, *false, 0)] * 3
    d = calibrate.decide_draws(draws)
    # The page alone misses the 0.25 find in each draw (3 of a cost of 63); half a weight keeps it.
    assert d["present_weight"] == 0.5
    assert d["false_finds"] == 0 and d["recall"] == round(123 / 183, 4)


def test_a_saved_model_is_calibrated_as_a_cpu_runs_it(tmp_path, monkeypatch):
    # A model trained in bf16 gives other masks in bf16 than in float32, which test_segmenter.py
    # runs on a CPU: its threshold moved by 0.1. calibrate_segmenter.py measures float32, as training does.
    import keras
    from helpers import NAMES
    from segmenty import model as models
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        config = models.preset_config("tiny")
        net = models.build_model(config, NAMES)
    finally:
        keras.config.set_dtype_policy(previous)
    path = str(tmp_path / "bf16.keras")
    models.save(net, path, {"preset": "tiny", "image_size": 32, "mask_names": NAMES, "epochs": 0, "config": config})
    seen = []
    monkeypatch.setattr(calibrate, "calibrate_model",
                        lambda predictor, info, *a, **k: seen.append(predictor.net) or {"page": None, "decision": None})
    calibrate.update(path, "pattern", "background")
    assert {layer.dtype_policy.name for layer in seen[0].layers[1:-1]} == {"float32"}
    reloaded, _ = models.load(path)
    assert {layer.dtype_policy.name for layer in reloaded.layers[1:-1]} == {"mixed_bfloat16"}  # saved as trained


def test_the_trades_of_min_score_agree_with_the_decision_and_with_score_of():
    from segmenty import find
    rng = np.random.default_rng(3)
    evidence = [(rng.uniform(0.3, 1.0, 40), [1.0] * 30 + [0.5] * 10, [1.0] * 40,
                 rng.uniform(-0.2, 0.6, 60), [1.0] * 50 + [0.5] * 10, [1.0] * 60, 4) for _ in range(3)]
    d = calibrate.decide_draws(evidence)
    rows = {cut: (recall, false) for cut, recall, false in d["trades"]}
    assert [r[0] for r in d["trades"]] == list(calibrate.MIN_SCORES)
    assert rows[0.5] == (d["recall"], d["false_finds"])  # the calibrated cut is the decision itself
    recalls, falses = zip(*(rows[c] for c in calibrate.MIN_SCORES))
    assert list(recalls) == sorted(recalls, reverse=True) and list(falses) == sorted(falses, reverse=True)
    assert recalls[0] > recalls[-1]
    # A find is score_of >= min_score: count them so, sample by sample.
    for cut, recall, false in d["trades"]:
        found = sum(find.score_of(e, d, v) >= cut for t, iv, _, _, _, _, _ in evidence for e, v in zip(t, iv))
        passed = sum(find.score_of(e, d, v) >= cut for _, _, _, f, fv, _, _ in evidence for e, v in zip(f, fv))
        assert recall == round(found / (120 + 12), 4) and false == passed
    assert calibrate.describe_trades(d).startswith("--min-score 0.2 / 0.3 / 0.5 / 0.7 / 0.9 would find ")
