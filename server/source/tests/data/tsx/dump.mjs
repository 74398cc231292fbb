// How `store.v8.js` was made: the text V8 was given for `store.ts` when tsx 4.23.15 (from
// fixtures/node_modules) ran it, read back through the inspector the way `heapsight capture`
// records a script's source (`Debugger.getScriptSource`).
//
//   mkdir -p /srv/app && cp store.ts /srv/app/ && cd /srv/app
//   DUMP_SUFFIX=/store.ts node --inspect=127.0.0.1:0 \
//     --import file://$REPO/fixtures/node_modules/tsx/dist/loader.mjs \
//     --import $REPO/server/source/tests/data/tsx/dump.mjs store.ts > store.v8.js
//
// `/srv/app` keeps the checkout's path out of the map (tsx writes absolute paths into
// `__filename` and `sources`). `--inspect` is what a capture runs with, and tsx embeds
// `sourcesContent` only when the process is being inspected.
//
// Preloaded after tsx: when the process is about to exit, writes the source of the script
// whose URL ends in `DUMP_SUFFIX` to stdout.
import inspector from 'node:inspector';

process.once('beforeExit', () => {
  const session = new inspector.Session();
  session.connect();
  const ids = [];
  session.on('Debugger.scriptParsed', ({ params }) => {
    if (params.url.endsWith(process.env.DUMP_SUFFIX)) ids.push(params.scriptId);
  });
  session.post('Debugger.enable', () => {
    for (const scriptId of ids) {
      session.post('Debugger.getScriptSource', { scriptId }, (error, result) => {
        if (error) throw error;
        process.stdout.write(result.scriptSource);
      });
    }
    session.disconnect();
  });
});
