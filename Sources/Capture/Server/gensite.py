"""Writes the web workload's static site: 3,000 HTML pages of text made from a fixed word list,
sizes log-normal (median 8 KiB, at most 512 KiB), every page with the same header and footer.
Deterministic: the PRNG is seeded with a constant, so every image has the same site."""
import os
import random
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = random.Random(20021209)
words = ("memory page share host guest balloon swap idle tax scan hint frame content hash "
         "copy write fault table shadow machine physical virtual server client request "
         "response cache index query table row column value latency throughput kernel").split()
header = "<!doctype html>\n<html><head><meta charset=utf-8><title>site</title>" \
         "<link rel=stylesheet href=/style.css></head><body>\n<nav>home | docs | blog | about</nav>\n"
footer = "\n<footer>generated site for the web workload</footer></body></html>\n"
total = 0
for i in range(3000):
    size = min(512 * 1024, max(512, int(rng.lognormvariate(9.0, 1.2))))
    parts = [header, f"<h1>page {i}</h1>\n<p>"]
    length = len(header) + 20
    while length < size:
        w = rng.choice(words)
        parts.append(w)
        parts.append(" " if rng.random() > 0.08 else ".</p>\n<p>")
        length += len(w) + 1
    parts.append(footer)
    data = "".join(parts).encode()
    with open(os.path.join(out, f"{i:04d}.html"), "wb") as f:
        f.write(data)
    total += len(data)
with open(os.path.join(out, "style.css"), "w") as f:
    f.write("body { font-family: sans-serif; max-width: 50em; margin: auto; }\n")
print(f"gensite: 3000 pages, {total / 2**20:.1f} MiB in {out}")
