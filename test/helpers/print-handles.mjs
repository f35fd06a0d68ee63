// Preload (node --import): at exit, prints the handles and requests still open as one JSON line on stderr,
// `{"handlesAtExit":[...]}`. A process that ends on its own has none but its stdio; one that a deadline ended
// with process.exit() names what it left open. With HANDLES_EVERY_MS set it also prints them while running
// (an unref'd timer: it never keeps the process alive), to see what holds a process that does not end.
import { writeSync } from 'node:fs';

const print = (key) => writeSync(2, `${JSON.stringify({ [key]: process.getActiveResourcesInfo() })}\n`);
process.on('exit', () => print('handlesAtExit'));
const every = Number(process.env.HANDLES_EVERY_MS);
if (every > 0) setInterval(() => print('handlesNow'), every).unref();

// With HANDLES_TRACE set: where each timer still holding the process at exit was created.
if (process.env.HANDLES_TRACE) {
  const live = new Map();
  const original = globalThis.setTimeout;
  globalThis.setTimeout = function (...args) {
    const t = original.apply(this, args);
    live.set(t, new Error('timer created').stack);
    return t;
  };
  process.on('exit', () => {
    for (const [t, stack] of live)
      if (t.hasRef() && !t._destroyed) writeSync(2, `${JSON.stringify({ timerAtExit: stack })}\n`);
  });
}
