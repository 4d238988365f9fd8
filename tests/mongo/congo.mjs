// congo.mjs: runs CongoServer (@push.rocks/smartmongo 2.2.0), a MongoDB wire-protocol server
// written in TypeScript, on 127.0.0.1 for ringroom's MongoDB tests (tests/integration/test_mongo.py).
// Usage: node congo.mjs PORT [STORAGE_DIR]. With a directory its data survives a restart
// (storage 'file'); without, it lives in memory. Prints "READY <uri>" once it listens and stops on
// SIGTERM/SIGINT.
//
// CongoServer stores unique index specs and has an IndexEngine that checks them, but its
// insert, update and delete paths never call it: a duplicate (room, rev) would be accepted. A
// real mongod refuses it with error 11000, and ringroom's fencing depends on that, so this
// file hooks Congo's own IndexEngine into the storage adapter: every insert, update and delete
// checks and maintains the collection's indexes as mongod does (one JS thread: no races).
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
enforceUniqueIndexes(server.getStorage());
await server.start();
console.log('READY ' + server.getConnectionUri());
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, async () => {
    await server.stop();
    process.exit(0);
  });
}

// One IndexEngine per collection, built from the stored documents on first use; all are
// rebuilt after an index or a collection is created, dropped or renamed.
function enforceUniqueIndexes(storage) {
  const engines = new Map();
  const engine = (db, coll) => {
    const key = `${db}.${coll}`;
    if (!engines.has(key)) engines.set(key, new congodb.IndexEngine(db, coll, storage));
    return engines.get(key);
  };
  const wrap = (name, around) => {
    const inner = storage[name].bind(storage);
    storage[name] = (...args) => around(inner, ...args);
  };
  for (const name of ['saveIndex', 'dropIndex', 'dropCollection', 'renameCollection', 'dropDatabase']) {
    wrap(name, async (inner, ...args) => {
      const r = await inner(...args);
      engines.clear();
      return r;
    });
  }
  wrap('insertOne', async (inner, db, coll, doc) => {
    if (!doc._id) doc._id = new congodb.ObjectId();
    const e = engine(db, coll);
    await e.onInsert(doc);                 // throws CongoDuplicateKeyError (code 11000)
    try {
      return await inner(db, coll, doc);
    } catch (err) {
      await e.onDelete(doc);
      throw err;
    }
  });
  wrap('updateById', async (inner, db, coll, id, doc) => {
    const old = await storage.findById(db, coll, id);
    if (old) await engine(db, coll).onUpdate(old, doc);
    return inner(db, coll, id, doc);
  });
  wrap('deleteById', async (inner, db, coll, id) => {
    const old = await storage.findById(db, coll, id);
    const r = await inner(db, coll, id);
    if (old) await engine(db, coll).onDelete(old);
    return r;
  });
  wrap('deleteByIds', async (inner, db, coll, ids) => {
    const olds = (await Promise.all(ids.map((id) => storage.findById(db, coll, id)))).filter(Boolean);
    const r = await inner(db, coll, ids);
    for (const old of olds) await engine(db, coll).onDelete(old);
    return r;
  });
}
