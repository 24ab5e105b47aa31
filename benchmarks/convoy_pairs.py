"""How many convoy pairs the busiest port meets: the memory behind plate_convoy_partners.

Reads the outbound rows of port 2504 (San Ysidro) from a generated Parquet dataset and,
day by day, counts the pairs of plates that left within GAP minutes of each other
(unordered, distinct plates), the distinct pairs so far (what the offline kernel keeps
as sorted keys, twice: both orders) and those seen at least twice (the only ones a
later crossing can find again).

    southbound generate --days 14 --scale 1 --seed 1 --out /tmp/w14
    .venv/bin/python benchmarks/convoy_pairs.py /tmp/w14 10
"""
import sys, time
import numpy as np, pandas as pd, pyarrow.dataset as ds
from scoring.features.convoy_numpy import _near_pairs
W = int(float(sys.argv[2]) * 60 * 1_000_000)
t0 = time.time()
tab = ds.dataset(sys.argv[1], format="parquet").to_table(
    columns=["plate_id", "crossed_at", "port_code", "direction"],
    filter=(ds.field("port_code") == "2504") & (ds.field("direction") == "outbound"))
df = tab.to_pandas()
t = pd.to_datetime(df["crossed_at"], utc=True, format="ISO8601").dt.tz_convert(None).astype("datetime64[us]").astype("int64").to_numpy()
codes, plates = np.unique(df["plate_id"].to_numpy(str), return_inverse=True)
o = np.argsort(t, kind="stable"); t, p = t[o], plates[o]
print(len(t), "outbound rows at 2504;", len(codes), "plates; read", round(time.time()-t0), "s")
n = len(codes)
day = 86_400_000_000
start = t[0]
keys_all = []
for d in range(int((t[-1] - start) // day) + 1):
    lo, hi = np.searchsorted(t, [start + d * day - W, start + (d + 1) * day])
    tt, pp = t[lo:hi], p[lo:hi]
    a, b = _near_pairs(tt, tt - W, tt + W + 1)
    keep = (a < b) & (pp[a] != pp[b]) & (tt[np.maximum(a, b)] >= start + d * day)
    lo_p, hi_p = np.minimum(pp[a[keep]], pp[b[keep]]), np.maximum(pp[a[keep]], pp[b[keep]])
    keys_all.append(lo_p.astype(np.int64) * n + hi_p)
    k = np.concatenate(keys_all)
    u, c = np.unique(k, return_counts=True)
    print(f"day {d+1}: pairs today {keep.sum():,}; distinct keys so far {len(u):,}; "
          f"keys seen >=2 times {int((c >= 2).sum()):,}", flush=True)
