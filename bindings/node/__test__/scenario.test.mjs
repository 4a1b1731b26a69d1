// The binding scenario in Node (the same steps and figures as the Rust, Python and Kotlin
// versions): `node --test __test__/` after `npm run build`, or through
// `cargo test -p obol-node`, which points OBOL_NODE at a fresh copy of the addon.
import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'

const require = createRequire(import.meta.url)
const addon = process.env.OBOL_NODE ?? '../index.js'
const obol = require(addon)
const USD = 'USD'

const transfer = (debit, credit, amount) => [
  { account: debit, direction: 'debit', amount, asset: USD },
  { account: credit, direction: 'credit', amount, asset: USD },
]

async function openFresh() {
  const directory = mkdtempSync(join(tmpdir(), 'obol-node-'))
  const options = {
    keyEncryptionKey: obol.generateKeyEncryptionKey(),
    issuer: 'obol-scenario',
    audience: 'obol-app',
  }
  const engine = await obol.openObol(`sqlite://${directory}/app.db`, options)
  // The app acting as its own (default) merchant, with every scope, in test mode.
  return { engine, shop: engine.actAs(null, null, 'test'), directory }
}

const account = async (shop, normalBalance, noOverdraft = false) =>
  (await shop.createAccount({ asset: USD, normalBalance, noOverdraft })).id

const rejectsWith = (promise, code) => assert.rejects(promise, (error) => {
  assert.ok(error instanceof Error)
  assert.equal(error.code, code)
  return true
})

test('ledger scenario', async () => {
  const { engine, shop } = await openFresh()
  const cash = await account(shop, 'debit')
  const wallet = await account(shop, 'credit', true)
  const revenue = await account(shop, 'credit')

  await shop.transfer(null, transfer(cash, wallet, '10000'))
  const hold = await shop.hold(null, transfer(wallet, revenue, '2500'))
  assert.equal((await shop.postHold(hold.id, '1500', true)).kind, 'post_hold')
  assert.equal((await shop.getHold(hold.id)).status, 'posted')

  await rejectsWith(shop.transfer(null, transfer(wallet, revenue, '999999')), 'insufficient_funds')
  const key = 'txn_01JD3Q4V5X6Y7Z8A9B0C1D2E3F'
  const first = await shop.transfer(key, transfer(wallet, revenue, '100'))
  assert.equal((await shop.transfer(key, transfer(wallet, revenue, '100'))).id, first.id)
  await rejectsWith(shop.transfer(key, transfer(wallet, revenue, '200')), 'idempotency_conflict')
  await rejectsWith(shop.transfer(null, transfer(cash, wallet, '12.50')), 'invalid_amount')

  assert.equal((await shop.balance(wallet)).posted, '8400')
  assert.equal((await shop.balance(revenue)).posted, '1600')
  assert.equal((await shop.balance(cash)).posted, '10000')
  const history = await shop.history(wallet, null, 10)
  assert.deepEqual(
    history.items.map((item) => [item.direction, item.amount]),
    [['credit', '10000'], ['debit', '1500'], ['debit', '100']],
  )
  assert.equal(history.nextCursor, undefined)

  await engine.shutdown()
  await rejectsWith(shop.balance(wallet), 'shut_down')
})

test('payment scenario', async () => {
  const { engine, shop } = await openFresh()
  const order = (amount) => ({ amount, asset: USD, captureMethod: 'manual' })

  const payment = await shop.createPayment(order('5000'), 'order-1')
  assert.equal(payment.status, 'requires_payment_method')
  const card = { number: '4242 4242 4242 4242', expMonth: 12, expYear: 2099, cvc: '123' }
  assert.equal((await shop.attachCard(payment.id, card)).status, 'requires_confirmation')
  const confirmed = await shop.confirm(payment.id)
  assert.deepEqual([confirmed.status, confirmed.authorized], ['requires_capture', '5000'])
  const captured = await shop.capture(payment.id, '3000')
  assert.deepEqual([captured.status, captured.captured], ['succeeded', '3000'])
  assert.equal((await shop.refund(payment.id, '1000', 'refund-1')).refunded, '1000')

  assert.equal((await shop.createPayment(order('5000'), 'order-1')).id, payment.id)
  await rejectsWith(shop.createPayment(order('6000'), 'order-1'), 'idempotency_conflict')
  await rejectsWith(shop.refund(payment.id, '5000'), 'exceeds_refundable')

  assert.equal((await shop.balance(await shop.merchantAccount(USD))).posted, '2000')
  assert.deepEqual((await shop.payments(10)).map((p) => p.refunded), ['1000'])
  await engine.shutdown()
})

// The events of a customer's card payment: created, attached, sent to the provider, paid.
const EVENT_KINDS = [
  'payment.created', 'payment.requires_confirmation', 'payment.processing', 'payment.succeeded',
]

test('customer and events scenario', async () => {
  const { engine, shop } = await openFresh()
  const customer = await shop.createCustomer({ email: 'ada@example.com', name: 'Ada' })
  const read = await shop.customer(customer.id)
  assert.deepEqual([read.email, read.name], ['ada@example.com', 'Ada'])
  await rejectsWith(shop.createCustomer({ email: 'not-an-email', name: 'Ada' }), 'invalid_customer')

  const card = { number: '4242 4242 4242 4242', expMonth: 12, expYear: 2099, cvc: '123' }
  const saved = await shop.saveCard(customer.id, card)
  assert.deepEqual([saved.brand, saved.last4], ['visa', '4242'])
  assert.equal((await shop.savedCards(customer.id)).length, 1)

  const order = { amount: '2500', asset: USD, captureMethod: 'automatic', customer: customer.id }
  const payment = await shop.createPayment(order)
  assert.equal(payment.customer, customer.id)
  await shop.attachSavedCard(payment.id, saved.id)
  const paid = await shop.confirm(payment.id)
  assert.deepEqual([paid.status, paid.captured], ['succeeded', '2500'])

  const events = await shop.events(0, 100, payment.id)
  assert.deepEqual(events.map((e) => e.kind), EVENT_KINDS)
  const sequences = events.map((e) => e.sequence)
  assert.deepEqual([...sequences].sort((a, b) => a - b), sequences)
  assert.equal(events.at(-1).payment.status, 'succeeded')
  const following = await shop.events(events[0].sequence, 1)
  assert.deepEqual(following.map((e) => e.id), [events[1].id])

  assert.equal((await shop.detachCard(saved.id)).detached, true)
  assert.deepEqual(await shop.savedCards(customer.id), [])
  await rejectsWith(shop.detachCard(saved.id), 'payment_method_not_found')
  await engine.shutdown()
})

test('auth scenario', async () => {
  const { engine, shop } = await openFresh()
  const password = 'correct horse battery staple'
  const user = await engine.signUp('Ada@Example.com', password, null)
  assert.equal(user.email, 'ada@example.com')
  const tokens = await engine.logIn('ada@example.com', password)
  const jwks = await engine.jwks()
  const offline = obol.verifyAccessTokenOffline(jwks, tokens.accessToken, 'obol-scenario', 'obol-app', Date.now())
  assert.deepEqual([offline.kind, offline.id], ['user', user.id])
  assert.throws(
    () => obol.verifyAccessTokenOffline(jwks, tokens.accessToken, 'obol-scenario', 'another-app', Date.now()),
    (error) => error.code === 'unauthenticated',
  )
  assert.deepEqual(await engine.verifyAccessToken(tokens.accessToken), offline)

  const refreshed = await engine.refresh(tokens.refreshToken)
  await rejectsWith(engine.refresh(tokens.refreshToken), 'unauthenticated')
  await engine.logOut(refreshed.refreshToken)
  await rejectsWith(engine.verifyAccessToken(refreshed.accessToken), 'unauthenticated')
  await rejectsWith(engine.logIn('ada@example.com', 'not the password'), 'unauthenticated')
  // Failures count per account and source: ten from one device stop that device only.
  for (let i = 0; i < 10; i++) {
    await rejectsWith(engine.logIn('ada@example.com', 'wrong', 'test', null, 'device-a'), 'unauthenticated')
  }
  await rejectsWith(engine.logIn('ada@example.com', password, 'test', null, 'device-a'), 'too_many_attempts')
  await engine.logIn('ada@example.com', password, 'test', null, 'device-b')

  const key = await engine.issueApiKey('till', ['payments:write'])
  const principal = await engine.authenticateApiKey(key.secret)
  assert.deepEqual([principal.kind, principal.scopes], ['api_key', ['payments:write']])

  // A tenant issues keys within what it holds; a key's holder acts through its tenant.
  const reader = await shop.issueApiKey('reports', ['payments:read'], 'test')
  assert.ok(reader.secret)
  const asReader = await engine.authenticate(reader.secret)
  assert.equal(asReader.principal().kind, 'api_key')
  await rejectsWith(asReader.createPayment({ amount: '100', asset: USD }), 'forbidden')
  await rejectsWith(asReader.issueApiKey('more', ['payments:read'], 'test'), 'forbidden')
  await rejectsWith(shop.issueApiKey('live', ['payments:read'], 'live'), 'forbidden')
  assert.equal((await shop.apiKeys()).length, 2)
  await rejectsWith(engine.authenticate('not a credential'), 'unauthenticated')
  await engine.shutdown()
})

test('a tenant sees only its own merchant', async () => {
  const { engine } = await openFresh()
  const a = engine.actAs('mer_01JD3Q4V5X6Y7Z8A9B0C1D2E3A', null, 'test')
  const b = engine.actAs('mer_01JD3Q4V5X6Y7Z8A9B0C1D2E3B', null, 'test')
  const card = { number: '4242 4242 4242 4242', expMonth: 12, expYear: 2099, cvc: '123' }
  const paid = await a.createPayment({ amount: '700', asset: USD, captureMethod: 'manual' })
  await a.attachCard(paid.id, card)
  await a.confirm(paid.id)

  await rejectsWith(b.payment(paid.id), 'payment_not_found')
  await rejectsWith(b.refund(paid.id), 'payment_not_found')
  assert.deepEqual(await b.payments(10), [])
  assert.deepEqual(await b.events(0, 100), [])
  const wallet = await account(a, 'credit')
  await rejectsWith(b.balance(wallet), 'account_not_found')
  const takings = await a.merchantAccount(USD)
  await rejectsWith(b.balance(takings), 'account_not_found')
  assert.equal((await a.balance(takings)).posted, '0')

  // Live mode reaches no sandbox: card details are refused, and test payments are unseen.
  const live = engine.actAs('mer_01JD3Q4V5X6Y7Z8A9B0C1D2E3A', null, 'live')
  await rejectsWith(live.payment(paid.id), 'payment_not_found')
  const fresh = await live.createPayment({ amount: '100', asset: USD })
  await rejectsWith(live.attachCard(fresh.id, card), 'invalid_payment_method')
  // An empty scope list grants nothing (absent means every scope).
  await rejectsWith(engine.actAs(null, [], 'test').createPayment({ amount: '100', asset: USD }), 'forbidden')
  assert.throws(() => engine.actAs(null, null, 'sandbox'), (error) => error.code === 'invalid_request')
  await engine.shutdown()
})

test('8 workers x 500 transfers keep the totals', async () => {
  // Each worker thread opens its own handle on the same file (objects do not cross
  // workers) and transfers concurrently with the others; the main thread checks the sums.
  const { engine, shop, directory } = await openFresh()
  const source = await account(shop, 'debit')
  const pool = await account(shop, 'credit')
  const url = `sqlite://${directory}/app.db`
  const kek = obol.generateKeyEncryptionKey()
  await engine.shutdown()
  const worker = `
    const { workerData, parentPort } = require('node:worker_threads')
    const obol = require(workerData.addon)
    ;(async () => {
      const engine = await obol.openObol(workerData.url, { keyEncryptionKey: workerData.kek, issuer: 'w', audience: 'w' })
      const shop = engine.actAs(null, null, 'test')
      for (let i = 0; i < 500; i++) {
        await shop.transfer(null, [
          { account: workerData.source, direction: 'debit', amount: '1', asset: 'USD' },
          { account: workerData.pool, direction: 'credit', amount: '1', asset: 'USD' },
        ])
      }
      await engine.shutdown()
      parentPort.postMessage('done')
    })().catch((error) => parentPort.postMessage(String(error)))
  `
  const workers = Array.from({ length: 8 }, () => new Promise((resolve, reject) => {
    const thread = new Worker(worker, {
      eval: true,
      workerData: { addon: require.resolve(addon), url, kek, source, pool },
    })
    thread.once('message', resolve)
    thread.once('error', reject)
  }))
  assert.deepEqual(await Promise.all(workers), Array(8).fill('done'))
  const reopened = await obol.openObol(url, { keyEncryptionKey: kek, issuer: 'w', audience: 'w' })
  const reopenedShop = reopened.actAs(null, null, 'test')
  assert.equal((await reopenedShop.balance(pool)).posted, '4000')
  assert.equal((await reopenedShop.balance(source)).posted, '4000')
  await reopened.shutdown()
})
