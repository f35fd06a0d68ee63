import v8 from 'node:v8';
import vm from 'node:vm';

let gc: (() => void) | undefined;
let liveAfterGc = 0;

/**
 * A full garbage collection between manifest shards when V8's heap has grown past twice its live size
 * (at least 96 MiB). V8 sizes its heap by the allocation rate (the producer allocates about a kilobyte a
 * key and keeps almost none of it), so without this the producer's peak RSS creeps up with the run's
 * length although its live set stays flat.
 */
export function collectGarbageIfGrown(): void {
  if (v8.getHeapStatistics().total_heap_size < Math.max(96 * 2 ** 20, 2 * liveAfterGc)) return;
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
  liveAfterGc = v8.getHeapStatistics().used_heap_size;
}
