#!/usr/bin/env python3
"""How much a model's decision threshold moves with the calibration's draw of samples.

    python bench/bench_calibration.py --model save.keras --pattern pattern --backgrounds background
        [--seeds 10] [--count 150] [--medians 3 5 7] [--candidate LIKENESS PRESENT [IN_VIEW]]
        [--costs 10 30 100] [--false-rates 0.01 0.001] [--weights 0 1 4] [--work bench_calibration]

calibrate_segmenter.py sets the threshold from calibrate.DRAWS independent draws of synthetic
samples and board-free photos, the median of each draw's own. This bench makes `--seeds` single
draws of the same model (draw 0 of seeds 0, 1, ...: `count` samples with the pattern, as many
without, and up to `count` photos each) and prints each draw's thresholds (whole page, and cut in
brackets; the masks' present weighed as all the draws together weigh it, calibrate.decide_draws),
then the spread of one draw against that of the median of k draws (each k of --medians up to
--seeds; calibrate.DRAWS among them by default), over every way of choosing k of them.

With --costs (false-find costs to try in place of calibrate.FALSE_FIND_COST) or --false-rates (in
place of calibrate.FALSE_RATE), each value makes calibrations of calibrate.DRAWS of the draws
(every choice, or 60 of them at random), and each is judged on the draws it leaves out: the share
of samples with the pattern it finds, and its false finds among those draws' false candidates
(blank samples and photos). That is the trade a setting makes on draws the calibration never
saw, measured without a real photo of the pattern. --weights does the same for the masks' present
weighed by each given weight alone (calibrate.decide_draws's `weights`), beside the calibration's
own choice among calibrate.PRESENT_WEIGHTS.

With --candidate (a find's `likeness`, `present` and `in_view` from results.json, say a false
find you saw), it also prints how many of those calibrations would find it, each deciding as a
calibration does (with its own weight of `present`): whether a borderline find passes is a
matter of the draw, and this says how often.

Each draw's evidence is kept in --work (about 2 minutes a draw for `lite` on a 2-core CPU), so a
second run with more seeds only draws the new ones.

It prints figures; it asserts nothing.
"""

import argparse
import itertools
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from segmenty import calibrate, find  # noqa: E402

KEYS = ("true_evidence", "true_in_view", "true_present", "false_evidence", "false_in_view", "false_present", "missed")


def draws(args):
    """Each seed's evidence (calibrate.draw_evidence's), drawn as calibrate() draws it, or read from --work."""
    os.makedirs(args.work, exist_ok=True)
    setup = None
    out = []
    for seed in range(args.seeds):
        path = os.path.join(args.work, f"{os.path.basename(args.model)}.count{args.count}.seed{seed}.present.npz")
        if not os.path.exists(path):
            if setup is None:
                _, info, predictor = calibrate.as_a_cpu_runs_it(args.model)
                setup = calibrate.setup(predictor, info, args.pattern, args.backgrounds)
            evidence = calibrate.one_draw(*setup, args.count, seed, 0)  # calibrate()'s first draw of this seed
            np.savez(path, **dict(zip(KEYS, evidence)))
            print(f"  drew seed {seed}", file=sys.stderr, flush=True)
        with np.load(path) as saved:
            out.append(tuple(saved[k] for k in KEYS[:-1]) + (int(saved["missed"]),))
    return out


def spread(values):
    values = np.asarray(values)
    return f"median {np.median(values):.3f}, range {values.min():.3f}-{values.max():.3f}, sd {values.std():.3f}"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--pattern", default="pattern", help="the pattern folder the model was trained on")
    p.add_argument("--backgrounds", default="background", help="a background folder without the pattern")
    p.add_argument("--seeds", type=int, default=10, help="single draws to make")
    p.add_argument("--count", type=int, default=calibrate.CALIBRATION_COUNT, help="samples of each kind per draw")
    p.add_argument("--medians", type=int, nargs="+", default=sorted({3, calibrate.DRAWS, 7}),
                   help="the k of the medians of k draws to measure (calibrate.DRAWS is what a calibration takes)")
    p.add_argument("--candidate", type=float, nargs="+", default=None, metavar="VALUE",
                   help="LIKENESS PRESENT [IN_VIEW] of a find: how many calibrations would find it (IN_VIEW default 1)")
    p.add_argument("--costs", type=float, nargs="+", default=None, metavar="COST",
                   help="false-find costs to try in place of calibrate.FALSE_FIND_COST, each judged on the "
                        "draws a calibration leaves out (needs --seeds above calibrate.DRAWS)")
    p.add_argument("--false-rates", type=float, nargs="+", default=None, metavar="RATE",
                   help="the same for calibrate.FALSE_RATE: the share of the false candidates' normal curve "
                        "a cut may leave above it")
    p.add_argument("--weights", type=float, nargs="+", default=None, metavar="WEIGHT",
                   help="weights of the masks' present to try each alone, in place of the calibration's choice "
                        "among calibrate.PRESENT_WEIGHTS, judged as --costs are")
    p.add_argument("--work", default="bench_calibration", help="where each draw's evidence is kept")
    args = p.parse_args()
    if args.candidate is not None and len(args.candidate) not in (2, 3):
        p.error(f"--candidate takes LIKENESS PRESENT [IN_VIEW], received {len(args.candidate)} numbers")
    if args.seeds < 2:
        p.error(f"--seeds must be at least 2, received {args.seeds}")
    if any(k < 1 for k in args.medians):
        p.error(f"--medians must be positive numbers of draws, received {args.medians}")
    out_of_range = (any(c <= 0 for c in args.costs or []) or any(not 0 < r < 1 for r in args.false_rates or [])
                    or any(w < 0 for w in args.weights or []))
    judged = args.costs or args.false_rates or args.weights
    if judged and (args.seeds <= calibrate.DRAWS or out_of_range):
        p.error(f"--costs, --false-rates and --weights need positive costs, rates under 1, weights of 0 or "
                f"more, and --seeds above {calibrate.DRAWS} (draws to judge on); received --costs {args.costs}, "
                f"--false-rates {args.false_rates}, --weights {args.weights} and --seeds {args.seeds}")
    drawn = draws(args)
    # The masks' present weighed as all the draws together would weigh it (calibrate.decide_draws).
    weight = (calibrate.decide_draws(drawn) or {}).get("present_weight", 0.0)
    evidence = [calibrate.weighed(e, weight) for e in drawn]
    decisions = [calibrate.choose_by_view(*e) for e in evidence]
    single = [(d["threshold"], d["partly"]["threshold"]) for d in decisions if d is not None]
    print(f"{args.model}: {args.seeds} draws of {args.count} samples of each kind and up to {args.count} photos "
          f"({sum(d is None for d in decisions)} without a true find); the masks' present weighed {weight:g}")
    print("  one draw, whole (cut): " + ", ".join(f"{w:.3f} ({c:.3f})" for w, c in single))
    print(f"  one draw:        whole {spread([w for w, _ in single])}; cut {spread([c for _, c in single])}")
    measurable = [k for k in args.medians if k <= args.seeds]
    for k in args.medians:
        if k not in measurable:
            print(f"  median of {k} draws: needs --seeds {k} or more")
            continue
        medians = [calibrate.median_of_draws([decisions[i] for i in chosen], [evidence[i] for i in chosen])
                   for chosen in itertools.combinations(range(args.seeds), k)]
        medians = [d for d in medians if d is not None]
        print(f"  median of {k} draws{' (a calibration)' if k == calibrate.DRAWS else ''}: "
              f"whole {spread([d['threshold'] for d in medians])}; "
              f"cut {spread([d['partly']['threshold'] for d in medians])} ({len(medians)} choices)")
    if args.candidate is not None:
        print(candidate_odds(drawn, *args.candidate, ks=[1] + measurable))
    if judged:
        print(f"  calibrations of {calibrate.DRAWS} draws, each judged on the {args.seeds - calibrate.DRAWS} "
              "draws it leaves out (medians over the choices of draws):")
        for cost in args.costs or []:
            print(f"  a false find costing {cost:g} missed ones (false rate {calibrate.FALSE_RATE:g})"
                  f"{' (calibrate_segmenter.py)' if cost == calibrate.FALSE_FIND_COST else ''}: "
                  + describe_cost(cost_trade(drawn, cost=cost)))
        for rate in args.false_rates or []:
            print(f"  false rate {rate:g} (a false find costing {calibrate.FALSE_FIND_COST:g} missed ones)"
                  f"{' (calibrate_segmenter.py)' if rate == calibrate.FALSE_RATE else ''}: "
                  + describe_cost(cost_trade(drawn, false_rate=rate)))
        if args.weights is not None:
            print(f"  the masks' present weighed as the calibration chooses among {list(calibrate.PRESENT_WEIGHTS)}: "
                  + describe_cost(cost_trade(drawn)))
        for weight in args.weights or []:
            print(f"  the masks' present weighed {weight:g} alone: " + describe_cost(cost_trade(drawn, weights=(weight,))))


def cost_trade(drawn, cost=None, false_rate=None, weights=calibrate.PRESENT_WEIGHTS, k=calibrate.DRAWS, limit=60,
               seed=0):
    """Per calibration of k of the draws (every choice, or `limit` of them at random) made with a
    false find costing `cost` missed ones, at most `false_rate` of the false candidates' normal
    curve above the cut (None: calibrate's own) and the masks' present weighed by one of `weights`
    (as calibrate.decide_draws chooses): (its whole-page threshold, and on the draws it leaves
    out: the share of true finds it keeps, its false finds, the false candidates there)."""
    choices = list(itertools.combinations(range(len(drawn)), k))
    if len(choices) > limit:
        choices = [choices[i] for i in np.random.default_rng(seed).choice(len(choices), limit, replace=False)]
    rows = []
    for chosen in choices:
        decision = calibrate.decide_draws([drawn[i] for i in chosen], weights, cost=cost, false_rate=false_rate)
        if decision is None:
            continue
        left = [calibrate.weighed(drawn[i], decision["present_weight"]) for i in range(len(drawn)) if i not in chosen]
        true_evidence, true_in_view, false_evidence, false_in_view = (
            np.concatenate([np.asarray(e[i], np.float64) for e in left]) for i in range(4))
        # What the calibration reports of its own draws (recall over the samples posed or missed).
        outcome = calibrate._outcome(true_evidence, true_in_view, false_evidence, false_in_view,
                                     sum(e[4] for e in left), decision["threshold"], decision["partly"]["threshold"])
        rows.append((decision["threshold"], outcome["recall"], outcome["false_finds"], len(false_evidence)))
    return rows


def describe_cost(rows):
    """cost_trade's rows in words."""
    if not rows:
        return "no calibration had a true find"
    threshold, recall, false, candidates = (np.asarray(column, np.float64) for column in zip(*rows))
    return (f"whole-page threshold median {np.median(threshold):.3f}; "
            f"left out: finds {np.median(recall):.3f} of the samples with the pattern, "
            f"{np.median(false):g} false finds of {np.median(candidates):g} candidates "
            f"(range {false.min():g}-{false.max():g}; {len(rows)} calibrations); "
            f"means {np.mean(recall):.3f} and {np.mean(false):.2f}")


def candidate_odds(drawn, likeness, present, in_view=1.0, ks=(1, calibrate.DRAWS)):
    """In words: the share of the calibrations made of k of the draws (every choice, for each k
    of `ks`) whose decision finds a candidate with this likeness, present and in_view."""
    shares = []
    for k in ks:
        found = [find.score_of(likeness, d, in_view, present) >= find.FOUND
                 for chosen in itertools.combinations(range(len(drawn)), k)
                 for d in [calibrate.decide_draws([drawn[i] for i in chosen])] if d is not None]
        shares.append(f"{np.mean(found):.2f} of {'single draws' if k == 1 else f'medians of {k}'}")
    return f"  a candidate of likeness {likeness:g}, present {present:g}, in view {in_view:g} is found by " + \
        ", ".join(shares)


if __name__ == "__main__":
    main()
