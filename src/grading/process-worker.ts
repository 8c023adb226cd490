/**
 * The child-process side of `isolation: 'process'` (see process-lanes.ts): a forked Node process
 * that grades one task per IPC message with the same code as a worker thread (./worker.ts). A
 * grader that calls process.exit, crashes the runtime or runs out of memory ends only this process.
 *
 * Protocol: parent -> child `{ id, task }`; child -> parent `{ id, started: true }` when the task
 * starts, then `{ id, result }` or `{ id, error }`.
 */
import { Worker } from 'node:worker_threads';
import gradeTask, { type GradeTask } from './worker.js';

/** A task as it crosses the IPC channel (no MessagePort). */
export interface ProcessTaskMessage {
  id: number;
  task: Omit<GradeTask, 'startPort'>;
}

if (!process.send) throw new Error('process-worker: must be started with child_process.fork');

process.on('message', (msg: ProcessTaskMessage) => {
  process.send!({ id: msg.id, started: true });
  gradeTask(msg.task).then(
    (result) => process.send!({ id: msg.id, result }),
    (err: unknown) => process.send!({ id: msg.id, error: (err as Error)?.message ?? String(err) }),
  );
});
// A parent that died (SIGKILL, crash) closes the channel: exit rather than linger as an orphan.
process.on('disconnect', () => process.exit(0));
// A grader stuck in a loop never sees 'disconnect', so a watchdog thread (which runs beside the
// busy main thread) kills this process once it has been re-parented, i.e. the trainer is gone.
new Worker(
  `const { workerData } = require('node:worker_threads');
   setInterval(() => { if (process.ppid !== workerData) process.kill(process.pid, 'SIGKILL'); }, 1000);`,
  { eval: true, workerData: process.ppid },
).unref();
