import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ConnectionWatch } from '../../src/shared/connection-watch.js';
import { createLogger } from '../../src/shared/logger.js';

function watched() {
  const lines: { level: number; msg: string }[] = [];
  const logger = createLogger(
    {},
    { write: (s: string) => lines.push(JSON.parse(s) as { level: number; msg: string }) },
    {},
  );
  const watch = new ConnectionWatch(logger, 'redis://127.0.0.1:6399');
  const a = new EventEmitter();
  const b = new EventEmitter();
  watch.attach(a).attach(b);
  return { lines, watch, a, b };
}

describe('ConnectionWatch', () => {
  it('logs one line when the connections come up and one when one drops', () => {
    const { lines, a, b } = watched();
    a.emit('ready');
    b.emit('ready');
    b.emit('close');
    b.emit('close');
    expect(lines.map((l) => l.msg)).toEqual([
      'connected to Redis',
      'cannot reach Redis at redis://127.0.0.1:6399; reconnecting with backoff',
    ]);
  });

  it('a client detached before its owner closes it is not reported as an outage', () => {
    const { lines, watch, a, b } = watched();
    a.emit('ready');
    b.emit('ready');
    watch.detach(b);
    b.emit('close');
    expect(lines.map((l) => l.msg)).toEqual(['connected to Redis']);
    expect(watch.connected).toBe(true);
    a.emit('close');
    expect(lines.at(-1)?.msg).toMatch(/cannot reach Redis/);
  });
});
