// A module-level Map that grows on every request: the shape of a tsx-run service's leak.
import * as http from 'node:http';

interface Item {
  id: string;
  body: string;
}

const items = new Map<string, Item>();

export function keep(id: string): Item {
  const item: Item = { id, body: `${id}:`.repeat(64) };
  items.set(id, item);
  return item;
}

export const server = http.createServer((req: http.IncomingMessage, res: http.ServerResponse) => {
  keep(req.url ?? '/');
  res.end('ok');
});
