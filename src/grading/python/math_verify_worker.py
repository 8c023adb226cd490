"""A persistent `math_verify` grader worker for GTR-RL's Python grader pool (src/grading/python-pool.ts).

Protocol: JSON lines. On start the worker prints {"ready": true, "version": "<math-verify version>"}
(or {"ready": false, "error": "..."} and exits 3 when math_verify cannot be imported). Then for each
request line {"id": int, "gold": str, "response": str} it prints one line
{"id": int, "correct": bool, "extracted": str | null} or {"id": int, "error": str}.

Grading follows verl's math_verify reward (verl/utils/reward_score/math_verify.py): the gold is
wrapped in \\boxed{} and read with LaTeX extraction; the response is read with LaTeX and plain
expression extraction; verify(gold, prediction) with Math-Verify's defaults (float_rounding=6,
strict=True). Math-Verify's own signal-based timeouts are kept; the pool also kills a worker that
runs past the per-item timeout, so a hung sympy call costs one worker, never the run. When
GTR_GRADER_MAX_MEMORY_MB is set (the pool sets it from reward.max_memory_mb), the worker caps its
address space to it (RLIMIT_AS) before importing anything large: an item past it fails alone.
"""
import json
import os
import sys


def cap_memory():
    """Applies GTR_GRADER_MAX_MEMORY_MB (set by the pool from reward.max_memory_mb) as RLIMIT_AS."""
    mb = os.environ.get("GTR_GRADER_MAX_MEMORY_MB")
    if not mb:
        return
    import resource

    limit = int(mb) * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def main():
    cap_memory()
    try:
        from importlib.metadata import version

        from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
    except Exception as exc:  # noqa: BLE001 - report any import failure to the pool
        hint = f"{sys.executable} -m pip install math-verify==0.9.0"
        print(json.dumps({"ready": False, "error": f"cannot import math_verify ({exc}); install it with: {hint}"}), flush=True)
        sys.exit(3)
    gold_targets = [LatexExtractionConfig()]
    pred_targets = [ExprExtractionConfig(), LatexExtractionConfig()]
    print(json.dumps({"ready": True, "version": version("math-verify")}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            gold = parse("\\boxed{" + req["gold"] + "}", gold_targets)
            pred = parse(req["response"], pred_targets)
            correct = bool(gold) and bool(pred) and bool(verify(gold, pred))
            extracted = str(pred[1]) if len(pred) > 1 else (str(pred[0]) if pred else None)
            out = {"id": req["id"], "correct": correct, "extracted": extracted}
        except (Exception, MemoryError) as exc:  # noqa: BLE001 - one item's failure is that item's verdict
            out = {"id": req["id"], "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
