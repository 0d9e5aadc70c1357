#!/usr/bin/env python3
"""Checks the man pages and completions scripts/manpages.sh generated against the command
definitions: every command and subcommand that `tracetool --experimental-dump-help` lists has
a page named git-style (tracetool-study-run.1) whose NAME is the command and whose SYNOPSIS
lists each of its options; each completion script names every top-level subcommand.

  check_manpages.py TRACETOOL OUT-DIR     (prints "ok" or the problems, exit 1)
"""
import json
import os
import subprocess
import sys


def commands(node, path):
    yield path, node
    for sub in node.get("subcommands", []) or []:
        yield from commands(sub, path + [sub["commandName"]])


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 64
    binary, out = argv[1], argv[2]
    dump = json.loads(subprocess.run([binary, "--experimental-dump-help"], check=True, capture_output=True, text=True).stdout)
    root = dump["command"]
    problems = []
    pages = set(os.listdir(os.path.join(out, "man1")))
    wanted = set()
    for path, node in commands(root, [root["commandName"]]):
        name = "-".join(path) + ".1"
        wanted.add(name)
        if name not in pages:
            problems.append(f"no page {name} for `{' '.join(path)}`")
            continue
        text = open(os.path.join(out, "man1", name), encoding="utf-8").read()
        if f'.Nm "{" ".join(path)}"' not in text and f".Nm {' '.join(path)}" not in text:
            problems.append(f"{name}: NAME is not `{' '.join(path)}`")
        for arg in node.get("arguments", []) or []:
            names = [n["name"] for n in arg.get("names", []) or [] if n.get("kind") == "long"]
            if arg.get("shouldDisplay", True) and names and not any(f"Fl -{n}" in text for n in names):
                problems.append(f"{name}: option --{names[0]} is not in the page")
    for extra in sorted(pages - wanted):
        problems.append(f"page {extra} matches no command")
    tops = [s["commandName"] for s in root.get("subcommands", [])]
    for script in ("tracetool.bash", "_tracetool", "tracetool.fish"):
        text = open(os.path.join(out, "completions", script), encoding="utf-8").read()
        missing = [t for t in tops if t not in text]
        if missing:
            problems.append(f"completions/{script} lacks {', '.join(missing)}")
    if problems:
        print("\n".join(problems))
        return 1
    print(f"ok: {len(wanted)} pages, 3 completion scripts")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
