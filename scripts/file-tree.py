"""Prints the README's file tree: one line per tracked file with the first line of its header
comment or docstring. Run: python3 scripts/file-tree.py > /tmp/tree.md"""
import os
import re
import subprocess

files = subprocess.run(["git", "ls-files"], capture_output=True, text=True, check=True).stdout.split()
SKIP = re.compile(r"^(test/fixtures/|package-lock\.json)")


FALLBACK = [
    (r"^bench/results/.*\.json$", "GPU benchmark / test results (dated, with the device)"),
    (r"^test/.*\.test\.ts$", "tests"),
    (r"^datasets/manifest\.json$", "the dataset registry: hub / URL sources, local file names, field mappings"),
    (r"^package\.json$", "package, pinned dependencies, scripts (setup, build, test, demo)"),
    (r"^\.gitignore$", "ignored build outputs and run directories"),
]


def summary(path):
    if path.endswith(".cpp") and os.path.exists(path[:-4] + ".h"):
        return "implementation of " + os.path.basename(path[:-4]) + ".h"
    for pat, text in FALLBACK:
        if re.match(pat, path):
            found = _summary(path)
            return found or text
    return _summary(path)


def _summary(path):
    try:
        text = open(path, encoding="utf-8").read(4000)
    except (UnicodeDecodeError, OSError):
        return ""
    for pat in (r"/\*\*\s*\n?\s*\*?\s*(.+)", r"^\s*//\s*(.+)", r'^"""(.+)', r"^#\s*(?!!)(.+)"):
        m = re.search(pat, text, re.M)
        if m:
            line = m.group(1).strip().rstrip("*/").strip()
            return line[:110]
    return ""


for f in files:
    if SKIP.match(f):
        continue
    s = summary(f)
    print(f"- `{f}`" + (f": {s}" if s else ""))
print("- `test/fixtures/`: parity checkpoints with transformers' logits, tokenizer references, grader cases, data samples")
