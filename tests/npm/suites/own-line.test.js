'use strict';
// A leak in the test file itself: the check must name this file's line.
const test = require('node:test');
const { expectNoLeaks } = require('heapsight/test');

const kept = [];
test('a leak on the test file own line', async () => {
  await expectNoLeaks(
    (i) => {
      kept.push({ i, payload: new Array(64).fill(i) }); // leak-here
    },
    { iterations: 500, rounds: 3, threshold: '100kB' },
  );
});
