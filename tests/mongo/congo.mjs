// congo.mjs: runs CongoServer (@push.rocks/smartmongo 2.2.0), a MongoDB wire-protocol server
// written in TypeScript, on 127.0.0.1 for ringroom's MongoDB tests (tests/integration/test_mongo.py).
// Usage: node congo.mjs PORT [STORAGE_DIR]. With a directory its data survives a restart
// (storage 'file'); without, it lives in memory. Prints "READY <uri>" once it listens and stops on
// SIGTERM/SIGINT.
import { congodb } from '@push.rocks/smartmongo';

const port = Number(process.argv[2]);
const dir = process.argv[3];
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node congo.mjs PORT [STORAGE_DIR]');
  process.exit(2);
}
const server = new congodb.CongoServer(dir
  ? { port, host: '127.0.0.1', storage: 'file', storagePath: dir }
  : { port, host: '127.0.0.1', storage: 'memory' });
await server.start();
console.log('READY ' + server.getConnectionUri());
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, async () => {
    await server.stop();
    process.exit(0);
  });
}
