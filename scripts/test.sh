#!/usr/bin/env bash
# The whole test suite: install what is missing, build the checked configuration (optimised,
# with the engine's step-by-step checks; .build/checked) and run every test, check every bundled
# trace with zstd -t and tracetool validate, check the man pages and the Python reader, check
# replay speed against decoding, then fuzz each parser briefly.
. "$(dirname "$0")/lib.sh"
# Each phase says how long it took (on stderr), so a slow test run shows where the time went.
phase_start=$SECONDS
phase() { echo "test.sh: $1 took $((SECONDS - phase_start)) s" >&2; phase_start=$SECONDS; }
bash scripts/deps.sh
phase "installing what is missing"
# swift test builds every target of the checked configuration, tracetool included (with
# testing enabled); the steps below use that binary rather than building it again without
# testing, which would recompile every module.
tt_build_env
swift test "${tt_checked[@]}" --parallel
phase "the checked build and swift test"
tt=.build/checked/release/tracetool
export TT_BIN=$tt
for f in traces/*.mtr.zst traces/*.txt.zst; do
  [ -e "$f" ] || continue
  zstd -tq "$f"
  "$tt" validate "$f"
done
phase "validating the bundled traces"
# Man pages and completions from the command definitions: a page for every (sub)command.
bash scripts/manpages.sh "$tt" .build/manpages
python3 Tests/check_manpages.py "$tt" .build/manpages
phase "man pages"
# The Python reader, pip-installed into a fresh virtual environment, checked against this build.
bash scripts/python-test.sh "$tt"
phase "the Python reader"
# Replay speed against decode-only in the same run (fails on a 2x regression).
bash scripts/perf-check.sh
phase "perf-check"
# Each fuzz target for 10 s (address sanitizer, leak checks): fails on a crash, leak or timeout.
bash scripts/fuzz.sh all 10
phase "fuzzing"
echo "test.sh: all passed in $SECONDS s" >&2
