// vendor-ot.mjs: writes web/vendor/ot.js, ot.js's browser build, from the npm package `ot`
// (pinned in package.json). The npm tarball of ot 0.0.15 ships lib/*.js but not the dist/ot.js
// that upstream's Gruntfile builds, so this script does exactly what that Gruntfile's
// `concat:dist` task does: the same banner, then the same nine lib/ files in the same order,
// joined by a newline. The files are copied byte for byte; the only addition is the MIT
// license text in the banner. ringroom serves the result from web/ (no CDN, nothing fetched at
// run time); the page uses ot.TextOperation, ot.Selection and ot.Client from it.
//
//   node vendor-ot.mjs          (re)write ../../web/vendor/ot.js
//   node vendor-ot.mjs --check  exit 1 if the committed file differs from what it would write
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const pkgDir = dirname(require.resolve('ot/package.json'));
export const target = join(here, '..', '..', 'web', 'vendor', 'ot.js');

// Gruntfile.js, concat.dist.src (ot 0.0.15)
const FILES = [
  'lib/text-operation.js', 'lib/selection.js', 'lib/wrapped-operation.js', 'lib/undo-manager.js',
  'lib/client.js', 'lib/codemirror-adapter.js', 'lib/socketio-adapter.js', 'lib/ajax-adapter.js',
  'lib/editor-client.js',
];

export function build() {
  const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  const license = readFileSync(join(pkgDir, 'LICENSE'), 'utf8').trimEnd().split('\n');
  // Gruntfile.js banner; the year is fixed to the LICENSE's last year so the file is reproducible.
  const banner = [
    '/*',
    ' *    /\\',
    ` *   /  \\ ${pkg.name} ${pkg.version}`,
    ` *  /    \\ ${pkg.homepage || ''}`,
    ' *  \\    /',
    ` *   \\  / (c) 2012-2014 ${pkg.author}`,
    ` *    \\/ ${pkg.name} may be freely distributed under the MIT license.`,
    ' *',
    ` * Vendored by ringroom: upstream's dist/ot.js recipe (Gruntfile concat:dist) applied to the`,
    ` * npm package ${pkg.name}@${pkg.version}; regenerate with tests/browser/vendor-ot.mjs.`,
    ' *',
    ...license.map((l) => (l ? ` * ${l}` : ' *')),
    ' */\n\n',
  ].join('\n');
  return banner + FILES.map((f) => readFileSync(join(pkgDir, f), 'utf8')).join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = build();
  if (process.argv.includes('--check')) {
    let cur = '';
    try { cur = readFileSync(target, 'utf8'); } catch { /* missing */ }
    if (cur !== out) {
      console.error(`${target} differs from the npm package's build; run: node vendor-ot.mjs`);
      process.exit(1);
    }
    console.log(`${target} matches ot's build`);
  } else {
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, out);
    console.log(`wrote ${target} (${out.length} bytes)`);
  }
}
