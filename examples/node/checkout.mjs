// A small checkout on the embedded engine from Node.js: a customer pays 42.50 USD with the
// sandbox card, a declined card is shown, and the merchant's balance is read.
//
//   (cd bindings/node && npm install && npm run build)
//   node examples/node/checkout.mjs
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const require = createRequire(import.meta.url)
const obol = require(process.env.OBOL_NODE ?? '../../bindings/node')

async function pay(shop, number, order) {
  const payment = await shop.createPayment(
    { amount: '4250', asset: 'USD', metadata: { order } },
    `checkout-${order}`,
  )
  await shop.attachCard(payment.id, { number, expMonth: 12, expYear: 2099, cvc: '123' })
  return shop.confirm(payment.id)
}

const directory = mkdtempSync(join(tmpdir(), 'obol-checkout-'))
const engine = await obol.openObol(`sqlite://${directory}/shop.db`, {
  keyEncryptionKey: obol.generateKeyEncryptionKey(),
  issuer: 'checkout-example',
  audience: 'checkout-example',
})
// The app acts as its own merchant, with every scope, in test mode (the sandbox).
const shop = engine.actAs(null, null, 'test')
const paid = await pay(shop, '4242 4242 4242 4242', '1001')
console.log(`order 1001: ${paid.id} ${paid.status}, captured ${paid.captured} minor units`)
const declined = await pay(shop, '4000 0000 0000 0002', '1002')
console.log(`order 1002: ${declined.status} (${declined.lastDecline})`)
const balance = await shop.balance(await shop.merchantAccount('USD'))
console.log(`merchant balance: ${balance.posted} minor units of USD`)
await engine.shutdown()
rmSync(directory, { recursive: true })
