// Vitest: every fixture app's workload under expectNoLeaks, imported as an ES module.
import { test } from 'vitest';
import { createRequire } from 'node:module';
import { expectNoLeaks } from 'heapsight/test';

const require = createRequire(import.meta.url);
const { cases, start, OPTIONS } = require('./cases.js');

for (const c of cases()) {
  test(c.name, async () => {
    const app = await start(c, { importer: (url) => import(/* @vite-ignore */ url) });
    try {
      await expectNoLeaks(app.iteration, OPTIONS);
    } finally {
      await app.stop();
    }
  }, 180000);
}
