// Layers of src/, lowest first: a folder may import its own layer and the ones below, never one above.
// `npx depcruise src` (run by `npm run lint`, part of `npm test`) fails on an upward import.
const LAYERS = [
  ['shared'], // infrastructure: S3, Redis, config, logging, image decoding, statistics
  ['model'], // the network, its training math, IO, ONNX, the out-of-distribution guard
  ['run'], // the run's one home: create, feed, record, settle, finalize, resume, status, outputs
  ['report'], // charts, Grad-CAM and HTML of a finished run
  ['eval'], // evaluations and calibration: runs on labelled data, judged
  ['train-queue'], // sharded training rounds on the train queue
  ['worker'], // the queue consumer: score, train and eval jobs
  ['dashboard', 'demo'],
  ['cli', 'bench'], // entry points
];

const folder = (names) => `^src/(${names.join('|')})/`;

/**
 * Upward imports that exist today inside code another change is reworking (training gets one home);
 * each is named narrowly and goes when that work lands. Do not add to this list: fix the import.
 */
const TEMPORARY = [];

const layerRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `${layer.join('-')}-imports-no-higher-layer`,
  comment: `${layer.join(', ')} may import only ${LAYERS.slice(0, i + 1)
    .flat()
    .join(', ')}`,
  severity: 'error',
  from: { path: folder(layer), pathNot: TEMPORARY.map((t) => t.from) },
  to: { path: folder(LAYERS.slice(i + 1).flat()) },
}));

const temporaryRules = TEMPORARY.map((t, i) => ({
  name: `temporary-exception-${i + 1}-stays-narrow`,
  comment: 'an excepted folder still may not import any other higher layer',
  severity: 'error',
  from: { path: t.from },
  to: {
    path: folder(LAYERS.slice(LAYERS.findIndex((l) => l.some((n) => t.from.includes(n))) + 1).flat()),
    pathNot: t.to,
  },
}));

module.exports = {
  forbidden: [
    ...layerRules,
    ...temporaryRules,
    {
      name: 'run-through-its-index',
      comment: 'outside src/run, the run is used through src/run/index.ts only',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/run/' },
      to: { path: '^src/run/', pathNot: '^src/run/index\\.ts$' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    exclude: { path: '\\.d\\.ts$' },
    // Resolve packages through their `exports` maps, as Node does.
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types'],
    },
  },
};
