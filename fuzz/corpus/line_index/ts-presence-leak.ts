// Presence service, written in TypeScript and compiled to ../main.js with a source map.
// Clients GET /watch?room=lobby to follow who is online in a room; POST /join?room=lobby&user=ann
// announces a user.
//
// The leak: every /watch request subscribes to the singleton hub's emitter and nothing ever
// unsubscribes, so each watcher (and the snapshot buffer it closes over) lives forever.

import * as http from 'node:http';
import { EventEmitter } from 'node:events';

interface Member {
  user: string;
  room: string;
  joinedAt: number;
}

interface Watcher {
  id: number;
  room: string;
  seen: number;
  recent: Array<{ seq: number; label: string }>;
}

type Json = Record<string, unknown>;

class PresenceHub {
  static readonly instance = new PresenceHub();
  readonly events = new EventEmitter();
  private readonly members = new Map<string, Member>();

  private constructor() {
    this.events.setMaxListeners(0);
  }

  join(user: string, room: string): Member {
    const member: Member = { user, room, joinedAt: Date.now() };
    this.members.set(`${room}/${user}`, member);
    this.events.emit('presence', member);
    return member;
  }

  count(): number {
    return this.members.size;
  }
}

const hub = PresenceHub.instance;
let nextWatcherId = 1;

function openWatcher(room: string): Watcher {
  const id = nextWatcherId++;
  return {
    id,
    room,
    seen: 0,
    recent: Array.from({ length: 40 }, (_, i) => ({ seq: i, label: `w${id}-member-${i}` })),
  };
}

function handleWatch(res: http.ServerResponse, url: URL): void {
  const watcher = openWatcher(url.searchParams.get('room') ?? 'lobby');
  hub.events.on('presence', (member: Member) => {
    if (member.room !== watcher.room) return;
    watcher.seen++;
  });
  sendJson(res, 200, { watcher: watcher.id, room: watcher.room });
}

function handleJoin(res: http.ServerResponse, url: URL): void {
  const user = url.searchParams.get('user');
  const room = url.searchParams.get('room') ?? 'lobby';
  if (!user) return sendJson(res, 400, { error: 'user is required' });
  const member = hub.join(user, room);
  sendJson(res, 200, { ok: true, members: hub.count(), joinedAt: member.joinedAt });
}

function sendJson(res: http.ServerResponse, status: number, body: Json): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/watch') return handleWatch(res, url);
  if (req.method === 'POST' && url.pathname === '/join') return handleJoin(res, url);
  if (url.pathname === '/health') return sendJson(res, 200, { ok: true });
  sendJson(res, 404, { error: 'not found' });
});

export const ready = new Promise<number>((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(process.env.PORT) || 0, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    console.log(`heapsight-fixture ready port=${port}`);
    resolve(port);
  });
});

export function close(): Promise<void> {
  server.closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}
