"""Reads the scalars of a TensorBoard event directory with the tensorboard package's own reader
and prints them as JSON: {"tag": [[step, value], ...]}. Used by test/run-observers.test.ts."""
import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
acc.Reload()
print(json.dumps({tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}))
