// Writes a heap snapshot of a near-empty program: the raw material the fuzz seeds are cut
// from (see cut_snapshot.py). Usage: node tiny-snapshot.js OUT.heapsnapshot [--track]
// With --track the snapshot is taken through the inspector with allocation tracking on,
// so it has trace_node_id values, trace_function_infos, trace_tree and samples.
'use strict';
const fs = require('fs');
const v8 = require('v8');
const inspector = require('inspector');
const out = process.argv[2] || 'tiny.heapsnapshot';
const track = process.argv.includes('--track');
const session = track ? new inspector.Session() : null;
if (session) {
  session.connect();
  session.post('HeapProfiler.startTrackingHeapObjects', { trackAllocations: true });
}

class Holder {
  constructor() {
    this.items = [1.5, 'two', { three: 3 }];
    this.map = new Map([['k', 'v']]);
    this.weak = new WeakMap();
    this.weak.set(this.items, 'value');
  }
}
const held = new Holder();
const closure = (() => {
  const captured = held;
  return () => captured;
})();
globalThis.keep = { held, closure, big: 2n ** 70n, sym: Symbol('s') };

if (session) {
  const chunks = [];
  session.on('HeapProfiler.addHeapSnapshotChunk', (m) => chunks.push(m.params.chunk));
  session.post('HeapProfiler.takeHeapSnapshot', null, (err) => {
    if (err) throw err;
    fs.writeFileSync(out, chunks.join(''));
    session.disconnect();
  });
} else {
  v8.writeHeapSnapshot(out);
}
