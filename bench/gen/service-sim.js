#!/usr/bin/env node
// A simulated Node.js web service with a large steady heap, request churn and four
// planted leaks, written the way such leaks show up in real services. It writes three
// heap snapshots for heapsight's benchmark:
//
//   warm-up -> gc -> A.heapsnapshot -> workload -> B.heapsnapshot -> idle + gc -> C.heapsnapshot
//
//   node --expose-gc --max-old-space-size=MB bench/gen/service-sim.js --size small --out DIR
//
// With --serve it builds the steady heap and runs the warm-up, then serves HTTP on
// 127.0.0.1 (--port, default 0: any) instead of writing snapshots, for capturing it live:
// it prints `service-sim ready port=N`; `POST /work?n=K` runs K requests of the workload
// and answers when done; `GET /health` answers at once. --expose-gc is optional there.
//
// The leaks' source lines are listed in expected.json beside this file; the script checks
// at start-up that each listed line still holds its statement, so editing this file
// without updating expected.json fails loudly instead of silently breaking later checks.
// Output is cached: when DIR already holds A, B, C and a stamp with this file's hash, the
// script does nothing. Everything is deterministic except V8's own ids and addresses.

'use strict';

const crypto = require('node:crypto');
const { EventEmitter } = require('node:events');
const fs = require('node:fs');
const path = require('node:path');
const v8 = require('node:v8');

// ---------------------------------------------------------------------------------------
// Command line and sizes
// ---------------------------------------------------------------------------------------

// `users` drives the steady heap; the rest scale from it. Calibrated on Node 20 so that
// the final snapshot is about 10 MB, 200 MB and 1 GB (12M nodes, 38M edges). `xl` (five
// times `large`) is as large as the 24 GiB benchmark machine can write: A is 4.1 GiB
// (53M nodes); Node is killed for memory writing B (23.5 GB resident, 9x its heap).
const SIZES = {
  small: { users: 500, requests: 600 },
  medium: { users: 20_500, requests: 20_500 },
  large: { users: 100_000, requests: 100_000 },
  xl: { users: 500_000, requests: 500_000 },
};

function parseArgs(argv) {
  const opts = { size: 'small', out: null, force: false, users: null, requests: null, serve: false, port: 0 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--size') opts.size = value();
    else if (arg === '--out') opts.out = value();
    else if (arg === '--force') opts.force = true;
    else if (arg === '--users') opts.users = Number(value());
    else if (arg === '--requests') opts.requests = Number(value());
    else if (arg === '--serve') opts.serve = true;
    else if (arg === '--port') opts.port = Number(value());
    else if (arg === '-h' || arg === '--help') {
      process.stdout.write(
        'usage: node --expose-gc --max-old-space-size=MB service-sim.js ' +
          '--size small|medium|large|xl --out DIR [--force] [--users N --requests N]\n' +
          '       node --max-old-space-size=MB service-sim.js --serve [--port N] --size ... [--users N --requests N]\n',
      );
      process.exit(0);
    } else fail(`unknown argument ${arg}`);
  }
  if (!SIZES[opts.size]) fail(`--size must be one of ${Object.keys(SIZES).join(', ')}`);
  if (!opts.out && !opts.serve) fail('--out DIR is required');
  return opts;
}

function fail(message) {
  process.stderr.write(`service-sim: ${message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------
// Deterministic data
// ---------------------------------------------------------------------------------------

// xorshift32: cheap, seedable, good enough for picking test data.
let rngState = 0x9e3779b9;
function random() {
  rngState ^= rngState << 13;
  rngState >>>= 0;
  rngState ^= rngState >>> 17;
  rngState ^= rngState << 5;
  rngState >>>= 0;
  return rngState / 4294967296;
}
const randInt = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1));
const pick = (list) => list[Math.floor(random() * list.length)];
function hex(bytes) {
  let s = '';
  for (let i = 0; i < bytes; i++) s += (randInt(0, 255) + 0x100).toString(16).slice(1);
  return s;
}

const FIRST_NAMES = [
  'Ana', 'José', 'Zoë', 'Björn', 'Łukasz', 'Søren', 'Chloé', 'Mário', 'Иван', 'Ελένη',
  '李雷', '山田', 'Nguyễn', 'Fatima', 'Olúwaseun', 'Émile', 'Noah', 'Liam', 'Mia', 'Aiko',
  'Priya', 'Kwame', 'Sofía', 'Mateus', 'Ingrid', 'Dmitri', 'Aroha', 'Yusuf', 'Lena', 'Omar',
];
const LAST_NAMES = [
  'Silva', 'Müller', 'García', 'Nowak', 'Kowalski', 'Johansson', 'Dubois', 'Rossi', 'Smith',
  'Петров', 'Παπαδόπουλος', '王', '佐藤', 'Trần', 'Okafor', 'Haddad', 'O\'Brien', 'Núñez',
  'Yılmaz', 'Kim', 'Tanaka', 'Fernández', 'Novák', 'Łęcki', 'Ševčík', 'Andersen',
];
const WORDS = (
  'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ' +
  'ut labore et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco ' +
  'laboris nisi aliquip ex ea commodo consequat duis aute irure in reprehenderit voluptate ' +
  'velit esse cillum fugiat nulla pariatur excepteur sint occaecat cupidatat non proident ' +
  'sunt culpa qui officia deserunt mollit anim id est laborum café naïve façade über straße ' +
  'smörgåsbord jalapeño ☕ 🚀 ✓ 東京 Москва Αθήνα'
).split(' ');
const TAGS = ['vip', 'beta', 'staff', 'trial', 'churn-risk', 'eu', 'us', 'apac', 'b2b', 'b2c'];
const CITIES = ['Lisboa', 'München', 'Kraków', 'Malmö', 'São Paulo', 'Zürich', 'Τhessaloniki', '大阪', 'Hà Nội', 'Lagos'];
const STATUSES = ['new', 'paid', 'packed', 'shipped', 'delivered', 'refunded'];
const ROUTES = ['/api/orders', '/api/users', '/api/catalog', '/api/stream', '/login', '/logout', '/health'];

// Prose of varied length: mostly short, some long, a few past V8's 1024-character cut.
function prose(minWords, maxWords) {
  const n = randInt(minWords, maxWords);
  const words = new Array(n);
  for (let i = 0; i < n; i++) words[i] = pick(WORDS);
  return words.join(' ');
}
function skewedProse() {
  const r = random();
  if (r < 0.7) return prose(3, 15);
  if (r < 0.97) return prose(20, 120);
  return prose(200, 600);
}

// ---------------------------------------------------------------------------------------
// Module-level configuration: a frozen tree with routes, feature flags and messages
// ---------------------------------------------------------------------------------------

function deepFreeze(value) {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze(value[key]);
  }
  return value;
}

function buildConfig() {
  const locales = ['en', 'de', 'fr', 'pl', 'ja', 'zh', 'el', 'ru', 'vi', 'pt'];
  const messages = {};
  for (const locale of locales) {
    const table = {};
    for (let i = 0; i < 300; i++) table[`msg.${i}`] = `${locale}: ${prose(2, 12)}`;
    messages[locale] = table;
  }
  return deepFreeze({
    version: 1,
    server: { port: 8080, host: '0.0.0.0', keepAliveMs: 5_000, trustProxy: true },
    limits: { bodyBytes: 1 << 20, rate: { windowMs: 60_000, max: 600 } },
    features: Object.fromEntries(TAGS.map((t, i) => [`feature_${t}`, { enabled: i % 2 === 0, rollout: i / 10 }])),
    routes: ROUTES.map((route) => ({ route, auth: route !== '/health', timeoutMs: randInt(100, 5_000) })),
    validation: { email: /^[^@\s]+@[^@\s]+\.[a-z]{2,}$/i, sku: /^SKU-[0-9A-F]{8}$/ },
    upstream: { webhookUrl: 'https://hooks.example.invalid/orders', retries: 5 },
    i18n: { defaultLocale: 'en', locales, messages },
  });
}
let CONFIG = buildConfig();

// ---------------------------------------------------------------------------------------
// The domain: users, sessions, products, orders
// ---------------------------------------------------------------------------------------

const kSecret = Symbol('secret');
const userMeta = new WeakMap(); // per-user bookkeeping that dies with the user

class Address {
  constructor() {
    this.street = `${randInt(1, 999)} ${pick(WORDS)} ${pick(['St', 'Ave', 'ul.', 'Rua', 'Straße'])}`;
    this.city = pick(CITIES);
    this.zip = String(randInt(10000, 99999));
    this.geo = { lat: random() * 180 - 90, lon: random() * 360 - 180 };
  }
}

class User {
  constructor(id) {
    this.id = id;
    this.name = `${pick(FIRST_NAMES)} ${pick(LAST_NAMES)}`;
    this.email = `user${id}.${hex(3)}@example.com`;
    this.createdAt = new Date(1_600_000_000_000 + id * 1000);
    this.roles = random() < 0.1 ? ['admin', 'user'] : ['user'];
    this.tags = TAGS.filter(() => random() < 0.2);
    this.profile = {
      bio: skewedProse(),
      locale: pick(CONFIG.i18n.locales),
      address: new Address(),
      balance: Math.round(random() * 1e6) / 100,
    };
    this.prefs = new Map([
      ['theme', pick(['dark', 'light'])],
      ['newsletter', random() < 0.5],
      ['pageSize', randInt(10, 100)],
    ]);
    this.can = makePolicy(this.roles); // a closure per user
    this[kSecret] = hex(8);
    userMeta.set(this, { logins: 0, lastIp: `10.${randInt(0, 255)}.${randInt(0, 255)}.${randInt(1, 254)}` });
  }
}

function makePolicy(roles) {
  const allowed = new Set(roles.includes('admin') ? ['read', 'write', 'delete'] : ['read', 'write']);
  return (action) => allowed.has(action);
}

class Product {
  constructor(n) {
    this.sku = `SKU-${(n * 2654435761 >>> 0).toString(16).toUpperCase().padStart(8, '0')}`;
    this.title = prose(2, 6);
    this.description = skewedProse();
    this.price = randInt(99, 99_999) / 100;
    this.stock = randInt(0, 500);
    this.categories = [pick(WORDS), pick(WORDS)];
  }
}

class OrderItem {
  constructor(product, qty) {
    this.product = product;
    this.qty = qty;
    this.unitPrice = product.price;
  }
}

class Order {
  constructor(id, user, products) {
    this.id = id;
    this.userId = user.id;
    this.user = user;
    this.items = [];
    const n = randInt(1, 5);
    for (let i = 0; i < n; i++) this.items.push(new OrderItem(pick(products), randInt(1, 4)));
    this.total = this.items.reduce((sum, it) => sum + it.qty * it.unitPrice, 0);
    this.status = pick(STATUSES);
    this.note = random() < 0.2 ? skewedProse() : null;
    this.reference = `ord_${id}_${hex(6)}`;
    this.history = [{ at: Date.now(), status: 'new' }];
  }
}

class Session {
  constructor(id, user) {
    this.id = id;
    this.user = user;
    this.token = `sess_${hex(16)}`;
    this.key = Buffer.alloc(32, id & 0xff);
    this.startedAt = Date.now();
    this.lastSeen = this.startedAt;
    this.data = { cart: [], flash: null, csrf: hex(8) };
    this.heartbeat = null;
  }
}

// The service's state. Everything here is meant to be long-lived.
const db = {
  users: [],
  usersByEmail: new Map(),
  products: [],
  sessions: new Map(),
  orders: new Map(),
  recentOrders: [], // bounded ring of the latest orders (not a leak: capped below)
};
const RECENT_ORDERS_CAP = 1_000;
const stats = { requests: 0, errors: 0, byRoute: Object.create(null) };
let nextOrderId = 1;
let nextSessionId = 1;
let nextRequestId = 1;

// ---------------------------------------------------------------------------------------
// Long-lived infrastructure, and the four leaks
// ---------------------------------------------------------------------------------------

// Process-wide bus for live updates; "it is fine to have many listeners".
const priceBus = new EventEmitter();
priceBus.setMaxListeners(0);

// Rendered responses keyed by URL. Nobody ever evicts.
const renderCache = new Map();

// Webhook deliveries that failed, waiting for the upstream to come back (it never does).
const pendingRetries = [];
let upstreamHealthy = false;

// Requests whose response is still being written; drained during the idle phase.
const inFlight = new Set();

class RequestContext {
  constructor(req, user) {
    this.id = req.id;
    this.req = req;
    this.user = user;
    this.startedAt = Date.now();
    this.trace = [`start ${req.method} ${req.url}`];
    this.locals = { locale: user ? user.profile.locale : CONFIG.i18n.defaultLocale };
  }
  log(line) {
    this.trace.push(line);
  }
}

function makeRequest(route, user) {
  const id = nextRequestId++;
  const query = route === '/api/catalog' ? `?page=${randInt(1, 50)}&q=${pick(WORDS)}&r=${id}` : `?r=${id}`;
  return {
    id,
    method: route === '/login' || route === '/api/orders' ? 'POST' : 'GET',
    url: route + query,
    route,
    headers: {
      'user-agent': pick(['curl/8.5.0', 'Mozilla/5.0 (X11; Linux x86_64)', 'okhttp/4.12', 'node-fetch/3']),
      'accept-language': pick(['en-US,en;q=0.9', 'de-DE', 'pl-PL,pl;q=0.8', 'ja-JP', 'zh-CN']),
      'x-request-id': `req-${id}-${hex(4)}`,
      cookie: user ? `sid=${hex(12)}` : '',
    },
    body: route === '/api/orders' ? JSON.stringify({ items: [{ sku: pick(db.products).sku, qty: 1 }], note: prose(1, 20) }) : null,
  };
}

function startHeartbeat(session) {
  session.heartbeat = setInterval(() => {
    session.lastSeen = Date.now();
  }, 60_000);
}

function login(user) {
  const session = new Session(nextSessionId++, user);
  db.sessions.set(session.token, session);
  startHeartbeat(session);
  const meta = userMeta.get(user);
  if (meta) meta.logins++;
  return session;
}

function logout(session) {
  // Forgets the session but not its heartbeat timer, which keeps it (and its user data) alive.
  db.sessions.delete(session.token);
  session.data.flash = 'bye';
}

function deliverWebhook(order, payload, attempt) {
  const ok = upstreamHealthy && attempt < CONFIG.upstream.retries;
  if (!ok) {
    pendingRetries.push(() => deliverWebhook(order, payload, attempt + 1));
  }
  return ok;
}

function renderCatalogPage(ctx) {
  const items = [];
  for (let i = 0; i < 8; i++) {
    const p = pick(db.products);
    items.push({ sku: p.sku, title: p.title, price: p.price.toFixed(2) });
  }
  const html = `<ul lang="${ctx.locals.locale}">${items.map((it) => `<li>${it.title} ${it.price}</li>`).join('')}</ul>`;
  return { html, etag: `W/"${hex(8)}"`, items };
}

function placeOrder(ctx) {
  const parsed = JSON.parse(ctx.req.body);
  const order = new Order(nextOrderId++, ctx.user, db.products);
  order.note = order.note || parsed.note;
  db.orders.set(order.id, order);
  db.recentOrders.push(order);
  if (db.recentOrders.length > RECENT_ORDERS_CAP) db.recentOrders.shift();
  const payload = JSON.stringify({ event: 'order.created', id: order.id, total: order.total });
  if (random() < 0.15) deliverWebhook(order, payload, 0);
  return order;
}

function handleRequest(req, user) {
  const ctx = new RequestContext(req, user);
  stats.requests++;
  stats.byRoute[req.route] = (stats.byRoute[req.route] || 0) + 1;
  let response;
  switch (req.route) {
    case '/api/stream': {
      // Subscribes the client to price updates and never unsubscribes.
      priceBus.on('price', (update) => {
        ctx.log(`price ${update.sku} ${update.price}`);
      });
      response = { status: 200, body: 'subscribed' };
      break;
    }
    case '/api/catalog': {
      const page = renderCatalogPage(ctx);
      renderCache.set(req.url, page);
      response = { status: 200, body: page.html };
      break;
    }
    case '/api/orders': {
      const order = placeOrder(ctx);
      response = { status: 201, body: JSON.stringify({ id: order.id, total: order.total }) };
      break;
    }
    case '/api/users': {
      const u = pick(db.users);
      response = { status: 200, body: JSON.stringify({ id: u.id, name: u.name, tags: u.tags }) };
      break;
    }
    default:
      response = { status: 204, body: '' };
  }
  ctx.log(`end ${response.status}`);
  // Some responses are still streaming out when the request "returns".
  if (random() < 0.05) {
    const pending = { ctx, response, chunks: [response.body, hex(16)] };
    inFlight.add(pending);
    setTimeout(() => inFlight.delete(pending), 50);
  }
  return response;
}

// ---------------------------------------------------------------------------------------
// Phases
// ---------------------------------------------------------------------------------------

function buildSteadyHeap(users) {
  const products = Math.max(200, Math.floor(users / 8));
  for (let i = 0; i < products; i++) db.products.push(new Product(i));
  for (let i = 0; i < users; i++) {
    const user = new User(i + 1);
    db.users.push(user);
    db.usersByEmail.set(user.email, user);
    const orders = randInt(0, 6);
    for (let k = 0; k < orders; k++) {
      const order = new Order(nextOrderId++, user, db.products);
      db.orders.set(order.id, order);
    }
    if (random() < 0.3) login(user);
  }
}

// One simulated request mix. Short-lived API sessions log in, do a few calls and log out.
function runRequests(count) {
  const shortSessions = [];
  let garbage = 0;
  for (let i = 0; i < count; i++) {
    const r = random();
    let route;
    if (r < 0.25) route = '/api/catalog';
    else if (r < 0.45) route = '/api/orders';
    else if (r < 0.6) route = '/api/stream';
    else if (r < 0.8) route = '/api/users';
    else if (r < 0.9) route = '/login';
    else if (r < 0.97) route = '/logout';
    else route = '/health';
    let session = null;
    if (route === '/login') {
      session = login(pick(db.users));
      shortSessions.push(session);
    } else if (route === '/logout') {
      if (shortSessions.length) logout(shortSessions.pop());
    } else if (shortSessions.length && random() < 0.5) {
      session = pick(shortSessions);
    }
    // API clients without a session authenticate with a key that maps to a user.
    const user = session ? session.user : pick(db.users);
    const response = handleRequest(makeRequest(route, session ? user : null), user);
    garbage += response.body.length; // churn: request, context and response die here
    if (i % 64 === 0) {
      // Background churn: replace a user's address, re-render a config snapshot.
      const u = pick(db.users);
      u.profile.address = new Address();
      garbage += JSON.stringify(CONFIG.routes).length;
    }
  }
  return garbage;
}

function snapshotCounts(file) {
  // The header's node_count and edge_count sit in the first few hundred bytes.
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.alloc(4096);
  const n = fs.readSync(fd, buf, 0, buf.length, 0);
  fs.closeSync(fd);
  const head = buf.toString('latin1', 0, n);
  const nodes = /"node_count":(\d+)/.exec(head);
  const edges = /"edge_count":(\d+)/.exec(head);
  return { nodes: nodes ? Number(nodes[1]) : null, edges: edges ? Number(edges[1]) : null };
}

function writeSnapshot(dir, name, record) {
  const t0 = process.hrtime.bigint();
  const final = path.join(dir, name);
  const tmp = path.join(dir, `.${name}.tmp-${process.pid}`);
  v8.writeHeapSnapshot(tmp);
  fs.renameSync(tmp, final);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const bytes = fs.statSync(final).size;
  const counts = snapshotCounts(final);
  const heapUsed = process.memoryUsage().heapUsed;
  record.snapshots[name] = { bytes, ...counts, heap_used: heapUsed, write_s: round(seconds) };
  log(`${name}: ${(bytes / 1048576).toFixed(1)} MiB, ${counts.nodes} nodes, ${counts.edges} edges, ` +
    `heap ${(heapUsed / 1048576).toFixed(1)} MiB, written in ${seconds.toFixed(1)} s`);
}

function round(x) {
  return Math.round(x * 1000) / 1000;
}
function log(line) {
  process.stderr.write(`service-sim: ${line}\n`);
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function checkExpected(source) {
  // expected.json names the line of each planted leak; make sure it still does.
  const expected = JSON.parse(fs.readFileSync(path.join(__dirname, 'expected.json'), 'utf8'));
  const lines = source.split('\n');
  for (const leak of expected.leaks) {
    const text = lines[leak.line - 1] || '';
    if (!text.includes(leak.match)) {
      fail(`expected.json: ${leak.kind} leak at line ${leak.line} should contain ${JSON.stringify(leak.match)}, ` +
        `found ${JSON.stringify(text.trim())}; update expected.json`);
    }
  }
}

// --serve: the steady heap and warm-up as in main, then the workload on demand over HTTP.
function serve(opts, users, requests) {
  const http = require('node:http');
  const t0 = process.hrtime.bigint();
  log(`size ${opts.size}: ${users} users, ${requests} requests per workload, node ${process.version}, serving`);
  buildSteadyHeap(users);
  runRequests(Math.floor(requests / 4)); // warm-up
  if (typeof global.gc === 'function') global.gc();
  log(`warm-up done in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/health') {
      res.end('ok\n');
    } else if (url.pathname === '/work' && req.method === 'POST') {
      const n = url.searchParams.has('n') ? Number(url.searchParams.get('n')) : requests;
      if (!Number.isInteger(n) || n < 0) {
        res.statusCode = 400;
        res.end('n must be a non-negative integer\n');
        return;
      }
      const t = process.hrtime.bigint();
      // What main's workload phase does.
      runRequests(n);
      CONFIG = deepFreeze({ ...CONFIG, version: CONFIG.version + 1 }); // a config reload
      priceBus.emit('price', { sku: db.products[0].sku, price: db.products[0].price });
      const seconds = Number(process.hrtime.bigint() - t) / 1e9;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ requests: n, seconds: round(seconds), listeners: priceBus.listenerCount('price') }) + '\n');
    } else {
      res.statusCode = 404;
      res.end('not found\n');
    }
  });
  server.listen(opts.port, '127.0.0.1', () => {
    process.stdout.write(`service-sim ready port=${server.address().port}\n`);
  });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!opts.serve && typeof global.gc !== 'function') fail('run node with --expose-gc');
  const source = fs.readFileSync(__filename, 'utf8');
  checkExpected(source);
  const preset = SIZES[opts.size];
  const users = opts.users || preset.users;
  const requests = opts.requests || preset.requests;
  if (opts.serve) return serve(opts, users, requests);
  const hash = crypto.createHash('sha256').update(source).digest('hex');
  const stamp = { generator: hash, size: opts.size, users, requests, node: process.version };
  const stampJson = JSON.stringify(stamp);

  const dir = path.resolve(opts.out);
  fs.mkdirSync(dir, { recursive: true });
  const stampFile = path.join(dir, 'stamp.json');
  const names = ['A.heapsnapshot', 'B.heapsnapshot', 'C.heapsnapshot'];
  const haveAll = names.every((n) => fs.existsSync(path.join(dir, n)));
  let oldStamp = null;
  try {
    oldStamp = fs.readFileSync(stampFile, 'utf8');
  } catch {
    oldStamp = null;
  }
  if (!opts.force && haveAll && oldStamp === stampJson) {
    log(`${dir}: up to date (${opts.size}), skipping`);
    return;
  }
  if (oldStamp !== null) fs.unlinkSync(stampFile); // stale until all three are rewritten

  const record = { ...stamp, phases: {}, snapshots: {} };
  const tStart = process.hrtime.bigint();
  let t = tStart;
  const phase = (name) => {
    const now = process.hrtime.bigint();
    record.phases[name] = round(Number(now - t) / 1e9);
    t = now;
  };

  log(`size ${opts.size}: ${users} users, ${requests} requests per workload, node ${process.version}`);
  buildSteadyHeap(users);
  runRequests(Math.floor(requests / 4)); // warm-up
  phase('warmup');
  global.gc();
  writeSnapshot(dir, 'A.heapsnapshot', record);
  phase('snapshot_a');

  runRequests(requests);
  CONFIG = deepFreeze({ ...CONFIG, version: CONFIG.version + 1 }); // a config reload
  priceBus.emit('price', { sku: db.products[0].sku, price: db.products[0].price });
  phase('workload');
  writeSnapshot(dir, 'B.heapsnapshot', record);
  phase('snapshot_b');

  await sleep(200); // in-flight responses finish
  global.gc();
  phase('idle');
  writeSnapshot(dir, 'C.heapsnapshot', record);
  phase('snapshot_c');

  record.total_s = round(Number(process.hrtime.bigint() - tStart) / 1e9);
  record.leaked = {
    listeners: priceBus.listenerCount('price'),
    cache_entries: renderCache.size,
    live_timers_sessions: nextSessionId - 1,
    retries: pendingRetries.length,
    in_flight_at_end: inFlight.size,
  };
  fs.writeFileSync(path.join(dir, 'gen.json'), JSON.stringify(record, null, 2) + '\n');
  const tmpStamp = path.join(dir, `.stamp.json.tmp-${process.pid}`);
  fs.writeFileSync(tmpStamp, stampJson);
  fs.renameSync(tmpStamp, stampFile);
  log(`done in ${record.total_s} s`);
  // The heartbeat intervals would keep the process alive: that is the leak, not a bug here.
  process.exit(0);
}

main().catch((err) => {
  process.stderr.write(`service-sim: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
