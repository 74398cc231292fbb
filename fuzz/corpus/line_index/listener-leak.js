'use strict';
// Quote service. Clients GET /quotes?symbol=ACME to open a "session" that gets the latest price
// and follows live updates; market makers POST /publish?symbol=ACME&price=12.5 to push prices.
//
// The leak: every /quotes request subscribes to the module-level `bus` and nothing ever
// unsubscribes, so each listener (and the session it closes over) lives forever.

const http = require('node:http');
const { EventEmitter } = require('node:events');

const bus = new EventEmitter();
bus.setMaxListeners(0); // "we have many subscribers", which hides the warning that would tell us

const latest = new Map(); // symbol -> last quote; bounded by the number of symbols
let nextSessionId = 1;

function publish(symbol, price) {
  const quote = { symbol, price, at: Date.now() };
  latest.set(symbol, quote);
  bus.emit('data', quote);
  return quote;
}

function openSession(req, url) {
  const id = nextSessionId++;
  return {
    id,
    symbol: url.searchParams.get('symbol') || 'ACME',
    userAgent: req.headers['user-agent'] || 'unknown',
    openedAt: Date.now(),
    updates: 0,
    lastPrice: null,
    // Recent ticks shown in the client's sparkline, pre-filled from the archive.
    history: Array.from({ length: 44 }, (_, i) => ({ seq: i, label: `s${id}-tick-${i}` })),
  };
}

function handleQuotes(req, res, url) {
  const session = openSession(req, url);
  bus.on('data', (quote) => {
    if (quote.symbol !== session.symbol) return;
    session.updates++;
    session.lastPrice = quote.price;
  });
  const last = latest.get(session.symbol) || null;
  sendJson(res, 200, { session: session.id, symbol: session.symbol, last });
}

function handlePublish(req, res, url) {
  const symbol = url.searchParams.get('symbol');
  const price = Number(url.searchParams.get('price'));
  if (!symbol || !Number.isFinite(price)) return sendJson(res, 400, { error: 'symbol and price' });
  const quote = publish(symbol, price);
  sendJson(res, 200, { ok: true, listeners: bus.listenerCount('data'), quote });
}

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/quotes') return handleQuotes(req, res, url);
  if (req.method === 'POST' && url.pathname === '/publish') return handlePublish(req, res, url);
  if (url.pathname === '/health') return sendJson(res, 200, { ok: true });
  sendJson(res, 404, { error: 'not found' });
});

const ready = new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(process.env.PORT) || 0, '127.0.0.1', () => {
    const { port } = server.address();
    console.log(`heapsight-fixture ready port=${port}`);
    resolve(port);
  });
});

function close() {
  if (server.closeAllConnections) server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

module.exports = { ready, close };
