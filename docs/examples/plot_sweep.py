#!/usr/bin/env python3
"""Plots a compare sweep from Python: slowdown against overcommit, one line per policy, with
the 95% interval over the seeds as a band (docs/PYTHON.md).

  tracetool compare traces/sample.mtr.zst --policy esx --policy swap-only \\
      --sweep overcommit=1,1.5,2,2.5,3 --seeds 3 --until 60s --format csv -o sweep.csv
  python docs/examples/plot_sweep.py sweep.csv sweep.png

Needs the reader with pandas and matplotlib: pip install './python[plot]'.
"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import tracetool


def main(csv_path, png_path, metric="slowdown_percent"):
    runs = tracetool.read_compare_csv(csv_path)
    unit = runs.attrs["units"][metric]
    host = runs[runs["vm_name"] == "all"]
    # Mean and 95% interval over the seeds, per policy and overcommit ratio.
    g = host.groupby(["policy", "overcommit"])[metric]
    stats = g.agg(["mean", "std", "count"]).reset_index()
    t975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571}
    half = [
        0.0 if n < 2 else t975.get(n - 1, 1.96) * s / n**0.5 for s, n in zip(stats["std"].fillna(0), stats["count"])
    ]
    stats["low"] = stats["mean"] - half
    stats["high"] = stats["mean"] + half
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for policy, rows in stats.groupby("policy", sort=False):
        rows = rows.sort_values("overcommit")
        x = rows["overcommit"].astype(float)
        (line,) = ax.plot(x, rows["mean"].astype(float), marker="o", label=policy)
        ax.fill_between(x, rows["low"].astype(float), rows["high"].astype(float), color=line.get_color(), alpha=0.2)
    seeds = int(stats["count"].max())
    ax.set_xlabel("overcommit ratio (Σ max / memory for VMs)")
    ax.set_ylabel("%s (%s)" % (metric.replace("_percent", "").replace("_", " "), "%" if unit == "percent" else unit))
    ax.set_title("%s: mean and 95%% interval over %d seeds" % (csv_path.split("/")[-1], seeds), fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(title="policy")
    fig.tight_layout()
    fig.savefig(png_path)
    print("wrote %s: %d policies × %d ratios" % (png_path, stats["policy"].nunique(), stats["overcommit"].nunique()))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(64)
    main(sys.argv[1], sys.argv[2])
