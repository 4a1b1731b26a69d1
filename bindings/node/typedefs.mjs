// Writes index.d.ts from the #[napi] items, or with --check fails when the committed one is
// stale. `napi build` would do the same but passes --target, which makes cargo rebuild every
// dependency in a separate directory; this builds the addon the way the tests do (debug, the
// workspace's target directory), with napi-derive told where to leave its type definitions,
// and renders them with @napi-rs/cli's own generateTypeDef.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { generateTypeDef } from '@napi-rs/cli'

const here = dirname(fileURLToPath(import.meta.url))
const check = process.argv.includes('--check')
const typeDefDir = mkdtempSync(join(tmpdir(), 'obol-node-typedefs-'))
try {
  execFileSync('cargo', ['build', '--quiet', '-p', 'obol-node'], {
    cwd: here,
    stdio: 'inherit',
    env: {
      ...process.env,
      NAPI_TYPE_DEF_TMP_FOLDER: typeDefDir,
      // napi-build reruns the crate's build when this changes, so the macros run again.
      NAPI_FORCE_BUILD_OBOL_NODE: String(Date.now()),
    },
  })
  const { dts, exports } = await generateTypeDef({
    typeDefDir,
    cwd: here,
    declareBindingTarget: true,
  })
  // The loader re-exports each top-level item by name; a new one needs `npm run build`.
  const loader = readFileSync(join(here, 'index.js'), 'utf8')
  const unexported = exports.filter((name) => !loader.includes(`module.exports.${name} =`))
  if (unexported.length > 0) {
    console.error(`index.js lacks ${unexported.join(', ')}: run \`npm run build\` in bindings/node`)
    process.exit(1)
  }
  const path = join(here, 'index.d.ts')
  if (check) {
    if (readFileSync(path, 'utf8') !== dts) {
      console.error('bindings/node/index.d.ts is stale: run `node bindings/node/typedefs.mjs`')
      process.exit(1)
    }
    console.log('bindings/node/index.d.ts and index.js are current')
  } else {
    writeFileSync(path, dts)
    console.log('wrote bindings/node/index.d.ts')
  }
} finally {
  rmSync(typeDefDir, { recursive: true, force: true })
}
