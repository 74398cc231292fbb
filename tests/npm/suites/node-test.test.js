'use strict';
// node:test: every fixture app's workload under expectNoLeaks.
const test = require('node:test');
const { expectNoLeaks } = require('heapsight/test');
const { cases, start, OPTIONS } = require('./cases.js');

for (const c of cases()) {
  test(c.name, async () => {
    const app = await start(c);
    try {
      await expectNoLeaks(app.iteration, OPTIONS);
    } finally {
      await app.stop();
    }
  });
}
