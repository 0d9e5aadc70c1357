"""The python workload: a numpy/pandas data job, repeated. Each round builds a frame of a
million sales rows and a table of 5,000 items, joins them, groups by category and day, ranks
users, sorts, takes a 600x600 matrix product and its largest eigenvalue, and writes a CSV
summary. Every number comes from a numpy PRNG seeded by the first argument."""
import sys

import numpy as np
import pandas as pd

seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
rng = np.random.default_rng(seed)
rnd = 0
while True:
    n = 1_000_000
    sales = pd.DataFrame({
        "user": rng.integers(0, 50_000, n),
        "item": rng.integers(0, 5_000, n),
        "amount": rng.gamma(2.0, 10.0, n).round(2),
        "day": rng.integers(0, 365, n),
    })
    items = pd.DataFrame({
        "item": np.arange(5_000),
        "category": rng.integers(0, 40, 5_000),
        "price": rng.uniform(1, 100, 5_000).round(2),
    })
    joined = sales.merge(items, on="item")
    by_day = joined.groupby(["category", "day"]).agg(total=("amount", "sum"), n=("amount", "size")).reset_index()
    top = joined.groupby("user")["amount"].sum().nlargest(100)
    ordered = joined.sort_values(["user", "day"], kind="stable")
    m = rng.standard_normal((600, 600))
    largest = np.linalg.eigvalsh(m @ m.T)[-1]
    by_day.to_csv(f"/tmp/summary-{rnd % 3}.csv", index=False)
    print(f"tt: round {rnd}: {len(ordered)} rows, top user {top.index[0]}, eigenvalue {largest:.1f}", flush=True)
    del sales, items, joined, by_day, top, ordered, m
    rnd += 1
