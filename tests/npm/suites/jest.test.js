'use strict';
// Jest: every fixture app's workload under expectNoLeaks (ES module apps through Jest's
// `--experimental-vm-modules` support, which the run turns on).
const { expectNoLeaks } = require('heapsight/test');
const { cases, start, OPTIONS } = require('./cases.js');

for (const c of cases()) {
  test(c.name, async () => {
    const app = await start(c, { importer: (url) => import(url) });
    try {
      await expectNoLeaks(app.iteration, OPTIONS);
    } finally {
      await app.stop();
    }
  }, 180000);
}
