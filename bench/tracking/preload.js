'use strict';
// Starts V8's allocation tracking before the main script runs, for measuring its cost on a
// program that writes its own snapshots (bench/gen/service-sim.js):
//
//   node -r ./bench/tracking/preload.js [--no-compact --no-turbo-inlining] --expose-gc \
//        --max-old-space-size=4096 bench/gen/service-sim.js --size medium --out DIR
//
// The in-process inspector session answers synchronously, so tracking is on before the first
// line of the main script. The session is kept open (closing it ends tracking) and never stops
// tracking (HeapProfiler.stopTrackingHeapObjects would take a fourth snapshot).

const { Session } = require('node:inspector');

const session = new Session();
session.connect();
session.post('HeapProfiler.enable');
session.post('HeapProfiler.startTrackingHeapObjects', { trackAllocations: true });
globalThis.__heapsightTrackingSession = session;
