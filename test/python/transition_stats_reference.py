"""scipy's answers for the transition experiment's statistics (src/transition/stats.ts), computed in the
test's own run: reads a JSON object from stdin and prints one with
- "perm": per paired sample d, scipy.stats.permutation_test's exact two-sided p of mean(d) = 0
  (permutation_type "samples" on (d, 0): every sign flip);
- "boot": per (d, level), scipy.stats.bootstrap's percentile interval of the mean (200,000 resamples);
- "km": per (times, events), scipy.stats.ecdf(CensoredData(...)).sf at each distinct time;
- "holm": per p-value list, Holm's adjusted p by its definition, max_{j <= i} min(1, (m - j + 1) p_(j))
  (scipy has no Holm; this is written from Holm 1979, apart from the code under test).
Usage: python3 transition_stats_reference.py < cases.json. Used by test/transition-stats.test.ts."""
import json
import sys

import numpy as np
from scipy import stats

cases = json.load(sys.stdin)
out = {"scipy": __import__("scipy").__version__, "perm": [], "boot": [], "km": [], "holm": []}
for d in cases["perm"]:
    x = np.array(d, dtype=float)
    r = stats.permutation_test(
        (x, np.zeros_like(x)),
        lambda a, b, axis=-1: np.mean(a - b, axis=axis),
        permutation_type="samples",
        alternative="two-sided",
        n_resamples=np.inf,
    )
    out["perm"].append(float(r.pvalue))
for c in cases["boot"]:
    r = stats.bootstrap(
        (np.array(c["d"], dtype=float),),
        np.mean,
        confidence_level=c["level"],
        method="percentile",
        n_resamples=200000,
        rng=np.random.default_rng(0),
    )
    out["boot"].append([float(r.confidence_interval.low), float(r.confidence_interval.high)])
for c in cases["km"]:
    t = np.array(c["times"], dtype=float)
    e = np.array(c["events"], dtype=bool)
    res = stats.ecdf(stats.CensoredData(uncensored=t[e], right=t[~e]))
    ts = sorted(set(c["times"]))
    out["km"].append([float(v) for v in res.sf.evaluate(np.array(ts))])
for p in cases["holm"]:
    m = len(p)
    order = sorted(range(m), key=lambda i: (p[i], i))
    adj = [0.0] * m
    for k, i in enumerate(order):
        adj[i] = max(min(1.0, (m - j) * p[order[j]]) for j in range(k + 1))
    out["holm"].append(adj)
print(json.dumps(out))
