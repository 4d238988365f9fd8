// edits.mjs: random ot.js edits for the OT tests (tests/node, tests/cluster): a seeded random
// generator and edits that stress UTF-16 counting without ever splitting a surrogate pair.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ot = require('ot');

// Pieces of text that stress UTF-16 counting: astral (surrogate pairs), combining marks,
// ZWJ sequences, CJK, plain ASCII.
const PIECES = ['a', 'b', 'xyz', ' ', '\n', 'é', 'e\u0301', '😀', '👩\u200d💻', '中文', 'Z\u0308\u0301', '𝒜'];

export function seededRandom(seed) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

// Positions in `doc` that do not fall inside a surrogate pair.
function boundaries(doc) {
  const out = [0];
  for (let i = 0; i < doc.length; i++) {
    const c = doc.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) continue; // next unit completes the pair
    out.push(i + 1);
  }
  return out;
}

// An insert of one of PIECES or a delete of a few units; deletes win once the document is
// longer than maxLen, so it stays small. null when there is nothing to delete.
export function randomEdit(doc, rnd, maxLen = 400) {
  const b = boundaries(doc);
  const op = new ot.TextOperation();
  if (doc.length > 0 && (rnd() < 0.35 || doc.length > maxLen)) {
    let i = Math.floor(rnd() * b.length), j = Math.min(b.length - 1, i + 1 + Math.floor(rnd() * 4));
    if (i >= j) i = j - 1;
    if (i < 0) return null;
    op.retain(b[i]).delete(b[j] - b[i]).retain(doc.length - b[j]);
  } else {
    const at = b[Math.floor(rnd() * b.length)];
    op.retain(at).insert(PIECES[Math.floor(rnd() * PIECES.length)]).retain(doc.length - at);
  }
  return op;
}
