/**
 * TensorBoard event files for a run: <run.dir>/tensorboard/events.out.tfevents.<time>.<host>, one
 * scalar summary per numeric metric of each metrics.jsonl row (same names, the row's `step`).
 *
 * The file is a TFRecord stream (framing and masked CRC-32C by @roboflow/tfrecords) of `Event`
 * protocol buffers (protobufjs). Only the messages and fields written here are declared, with
 * TensorFlow's field numbers (tensorflow/core/util/event.proto, tensorflow/core/framework/summary.proto):
 *   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
 *   Summary { repeated Value value = 1; }  Value { string tag = 1; float simple_value = 2; }
 * TensorBoard's reader (tensorboard.backend.event_processing) reads `simple_value` as a scalar.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import tfrecords from '@roboflow/tfrecords';

const root = new protobuf.Root();
const SummaryValue = new protobuf.Type('Value')
  .add(new protobuf.Field('tag', 1, 'string'))
  .add(new protobuf.Field('simple_value', 2, 'float'));
const Summary = new protobuf.Type('Summary').add(SummaryValue).add(new protobuf.Field('value', 1, 'Value', 'repeated'));
const Event = new protobuf.Type('Event')
  .add(new protobuf.Field('wall_time', 1, 'double'))
  .add(new protobuf.Field('step', 2, 'int64'))
  .add(new protobuf.Field('file_version', 3, 'string'))
  .add(new protobuf.Field('summary', 5, 'Summary'));
root.define('tensorflow').add(Summary).add(Event);
root.resolveAll();

/** Writers opened by this process (part of the file name). */
let writers = 0;

/** The event-file directory inside a run directory. */
export const TENSORBOARD_DIR = 'tensorboard';

/** The numeric (finite) metrics of a row as (tag, value), `step` and `kind` left out. */
export function scalarsOf(row: Record<string, unknown>): [string, number][] {
  return Object.entries(row).filter(
    (e): e is [string, number] => e[0] !== 'step' && typeof e[1] === 'number' && Number.isFinite(e[1]),
  );
}

/** One framed record of an Event message. */
function record(event: Record<string, unknown>): Buffer {
  const bytes = Event.encode(Event.fromObject(event)).finish();
  return tfrecords.TFRecordsBuilder.buildTFRecords([Buffer.from(bytes)]);
}

/** Writes metric rows as TensorBoard scalars into one event file (appended and flushed per row). */
export class TensorBoardWriter {
  readonly file: string;

  /**
   * Starts a new event file in `dir`. With `replaceExisting`, earlier event files there are deleted
   * first (the loop rewrites the whole history from metrics.jsonl on resume, so steps after the
   * resumed checkpoint are not shown twice).
   */
  constructor(dir: string, opts: { replaceExisting?: boolean } = {}) {
    mkdirSync(dir, { recursive: true });
    if (opts.replaceExisting && existsSync(dir)) {
      for (const f of readdirSync(dir)) if (f.startsWith('events.out.tfevents.')) rmSync(join(dir, f), { force: true });
    }
    const now = Date.now() / 1000;
    // TensorBoard's naming (time, host) plus pid and a counter, so two writers never share a file.
    this.file = join(
      dir,
      `events.out.tfevents.${Math.floor(now)}.${hostname().replace(/[^A-Za-z0-9._-]/g, '_')}.${process.pid}.${++writers}`,
    );
    appendFileSync(this.file, record({ wall_time: now, file_version: 'brain.Event:2' }));
  }

  /** Appends one Event holding the row's numeric metrics at the row's `step` (nothing when it has none). */
  write(row: Record<string, unknown>, wallTime = Date.now() / 1000): void {
    const values = scalarsOf(row).map(([tag, v]) => ({ tag, simple_value: v }));
    if (values.length === 0) return;
    const step = typeof row.step === 'number' ? row.step : 0;
    appendFileSync(this.file, record({ wall_time: wallTime, step, summary: { value: values } }));
  }
}
