// Calls per second through the Node binding: `balance` (a cheap read) and `transfer`, one call
// at a time. Run by bindings/bench/run.sh.
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const require = createRequire(import.meta.url)
const obol = require(process.env.OBOL_NODE ?? '../node')
const calls = Number(process.argv[2] ?? 20000)

const directory = mkdtempSync(join(tmpdir(), 'obol-bench-'))
const engine = await obol.openObol(`sqlite://${directory}/bench.db`, {
  keyEncryptionKey: obol.generateKeyEncryptionKey(), issuer: 'b', audience: 'b',
})
const shop = engine.actAs(null, null, 'test')
const a = (await shop.createAccount({ asset: 'USD', normalBalance: 'debit' })).id
const b = (await shop.createAccount({ asset: 'USD', normalBalance: 'credit' })).id
const entries = [
  { account: a, direction: 'debit', amount: '1', asset: 'USD' },
  { account: b, direction: 'credit', amount: '1', asset: 'USD' },
]
for (const [name, call, count] of [
  ['balance', () => shop.balance(a), calls],
  ['transfer', () => shop.transfer(null, entries), calls / 10],
]) {
  const started = process.hrtime.bigint()
  for (let i = 0; i < count; i++) await call()
  const elapsed = process.hrtime.bigint() - started
  const perSecond = (BigInt(count) * 1_000_000_000n) / elapsed
  const perCall = elapsed / BigInt(count) / 1000n
  console.log(`binding node    ${name.padEnd(8)} calls/s ${String(perSecond).padStart(8)}  per call ${String(perCall).padStart(5)} µs`)
}
await engine.shutdown()
rmSync(directory, { recursive: true })
