'use strict';
// Run by `heapsight capture` as its warm-up and load command: asks the test process (which
// serves on a loopback port for the length of one check) to run the workload, and exits
// when it is done: 0 when it went well, 1 with the reason otherwise.
//   node trigger.js <port> <warmup|round> <token>

const http = require('node:http');

const [port, what, token] = process.argv.slice(2);
const req = http.request(
  { host: '127.0.0.1', port: Number(port), method: 'POST', path: `/${what}`, headers: { 'x-heapsight-token': token } },
  (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => (body += d));
    res.on('end', () => {
      if (res.statusCode === 200) process.exit(0);
      process.stderr.write(`the workload failed: ${body}\n`);
      process.exit(1);
    });
  },
);
req.on('error', (e) => {
  process.stderr.write(`cannot reach the test process on port ${port}: ${e.message}\n`);
  process.exit(1);
});
req.end();
