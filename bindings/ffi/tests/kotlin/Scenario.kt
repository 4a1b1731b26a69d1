// The binding scenario in Kotlin (the same steps and figures as the Rust, Python and Node
// versions): run by `cargo test -p obol-ffi --test languages`, which compiles it with the
// generated bindings. Any failed check throws, and the JVM exits non-zero.

import dev.obol.*
import java.nio.file.Files
import java.util.concurrent.atomic.AtomicInteger
import kotlin.concurrent.thread
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.runBlocking

const val USD = "USD"
// Two merchants of one engine, each a tenant that sees only its own things.
const val MERCHANT_A = "mer_01JD3Q4V5X6Y7Z8A9B0C1D2E3A"
const val MERCHANT_B = "mer_01JD3Q4V5X6Y7Z8A9B0C1D2E3B"

fun check(condition: Boolean, what: () -> String) {
    if (!condition) throw AssertionError(what())
}

fun <T> same(actual: T, expected: T) = check(actual == expected) { "expected $expected, got $actual" }

suspend inline fun <reified E : Throwable> failsWith(block: suspend () -> Unit): E {
    try {
        block()
    } catch (error: Throwable) {
        if (error is E) return error
        throw AssertionError("expected ${E::class.simpleName}, got $error")
    }
    throw AssertionError("expected ${E::class.simpleName}, got no error")
}

fun transfer(debit: String, credit: String, amount: String) = listOf(
    EntryInput(debit, Direction.DEBIT, amount, USD),
    EntryInput(credit, Direction.CREDIT, amount, USD),
)

suspend fun openFresh(): Obol {
    val directory = Files.createTempDirectory("obol-kotlin")
    val options = ObolOptions(generateKeyEncryptionKey(), "obol-scenario", "obol-app")
    return openObol("sqlite://$directory/app.db", options)
}

suspend fun account(shop: Tenant, normal: Direction, noOverdraft: Boolean = false): String =
    shop.createAccount(NewAccountInput(asset = USD, normalBalance = normal, noOverdraft = noOverdraft, metadata = emptyMap())).id

fun order(amount: String) =
    NewPaymentInput(amount = amount, asset = USD, captureMethod = CaptureMethod.MANUAL, metadata = emptyMap())

suspend fun ledgerScenario() {
    val engine = openFresh()
    val shop = engine.actAs(null, null, "test")
    val cash = account(shop, Direction.DEBIT)
    val wallet = account(shop, Direction.CREDIT, noOverdraft = true)
    val revenue = account(shop, Direction.CREDIT)

    shop.transfer(null, transfer(cash, wallet, "10000"), emptyMap())
    val hold = shop.hold(null, transfer(wallet, revenue, "2500"), null, emptyMap())
    same(shop.postHold(hold.id, "1500", true, null).kind, "post_hold")
    same(shop.getHold(hold.id).status, "posted")

    val refused = failsWith<LedgerException.Rejected> { shop.transfer(null, transfer(wallet, revenue, "999999"), emptyMap()) }
    same(refused.code, "insufficient_funds")

    val key = "txn_01JD3Q4V5X6Y7Z8A9B0C1D2E3F"
    val first = shop.transfer(key, transfer(wallet, revenue, "100"), emptyMap())
    same(shop.transfer(key, transfer(wallet, revenue, "100"), emptyMap()).id, first.id)
    val clash = failsWith<LedgerException.Conflict> { shop.transfer(key, transfer(wallet, revenue, "200"), emptyMap()) }
    same(clash.code, "idempotency_conflict")
    val bad = failsWith<LedgerException.Invalid> { shop.transfer(null, transfer(cash, wallet, "12.50"), emptyMap()) }
    same(bad.code, "invalid_amount")

    same(shop.balance(wallet).posted, "8400")
    same(shop.balance(revenue).posted, "1600")
    same(shop.balance(cash).posted, "10000")
    val history = shop.history(wallet, null, 10u)
    same(
        history.items.map { it.direction to it.amount },
        listOf(Direction.CREDIT to "10000", Direction.DEBIT to "1500", Direction.DEBIT to "100"),
    )
    same(history.nextCursor, null)

    engine.shutdown()
    val closed = failsWith<LedgerException.Unavailable> { shop.balance(wallet) }
    same(closed.code, "shut_down")
    engine.close()
}

suspend fun paymentScenario() {
    val engine = openFresh()
    val shop = engine.actAs(null, null, "test")

    val payment = shop.createPayment(order("5000"), "order-1")
    same(payment.status, "requires_payment_method")
    val card = CardInput("4242 4242 4242 4242", 12u, 2099u, "123")
    same(shop.attachCard(payment.id, card, null).status, "requires_confirmation")
    val confirmed = shop.confirm(payment.id, null)
    same(confirmed.status to confirmed.authorized, "requires_capture" to "5000")
    val captured = shop.capture(payment.id, "3000", true, null)
    same(captured.status to captured.captured, "succeeded" to "3000")
    same(shop.refund(payment.id, "1000", "refund-1").refunded, "1000")

    same(shop.createPayment(order("5000"), "order-1").id, payment.id)
    val clash = failsWith<PaymentException.Conflict> { shop.createPayment(order("6000"), "order-1") }
    same(clash.code, "idempotency_conflict")
    val tooMuch = failsWith<PaymentException.Rejected> { shop.refund(payment.id, "5000", null) }
    same(tooMuch.code, "exceeds_refundable")

    same(shop.balance(shop.merchantAccount(USD)).posted, "2000")
    same(shop.payments(10u, null).map { it.refunded }, listOf("1000"))
    engine.shutdown()
    engine.close()
}

/** The events of a customer's card payment: created, attached, sent to the provider, paid. */
val eventKinds = listOf(
    "payment.created", "payment.requires_confirmation", "payment.processing", "payment.succeeded",
)

suspend fun customerAndEventsScenario() {
    val engine = openFresh()
    val shop = engine.actAs(null, null, "test")
    val customer = shop.createCustomer(NewCustomerInput(email = "ada@example.com", name = "Ada", metadata = emptyMap()))
    val read = shop.customer(customer.id)
    same(read.email to read.name, "ada@example.com" to "Ada")
    val bad = failsWith<PaymentException.Invalid> {
        shop.createCustomer(NewCustomerInput(email = "not-an-email", name = "Ada", metadata = emptyMap()))
    }
    same(bad.code, "invalid_customer")

    val saved = shop.saveCard(customer.id, CardInput("4242 4242 4242 4242", 12u, 2099u, "123"), null)
    same(saved.brand to saved.last4, "visa" to "4242")
    same(shop.savedCards(customer.id).size, 1)

    val order = NewPaymentInput(
        amount = "2500", asset = USD, captureMethod = CaptureMethod.AUTOMATIC,
        customer = customer.id, metadata = emptyMap(),
    )
    val payment = shop.createPayment(order, null)
    same(payment.customer, customer.id)
    shop.attachSavedCard(payment.id, saved.id, null)
    val paid = shop.confirm(payment.id, null)
    same(paid.status to paid.captured, "succeeded" to "2500")

    val events = shop.events(0L, 100u, payment.id)
    same(events.map { it.kind }, eventKinds)
    same(events.map { it.sequence }.sorted(), events.map { it.sequence })
    same(events.last().payment.status, "succeeded")
    same(shop.events(events[0].sequence, 1u, null).map { it.id }, listOf(events[1].id))

    check(shop.detachCard(saved.id).detached) { "the card is not detached" }
    same(shop.savedCards(customer.id), emptyList())
    val again = failsWith<PaymentException.NotFound> { shop.detachCard(saved.id) }
    same(again.code, "payment_method_not_found")
    engine.shutdown()
    engine.close()
}

suspend fun authScenario() {
    val engine = openFresh()
    val shop = engine.actAs(null, null, "test")
    val password = "correct horse battery staple"
    val user = engine.signUp("Ada@Example.com", password, null)
    same(user.email, "ada@example.com")
    val tokens = engine.logIn("ada@example.com", password, "test")
    val jwks = engine.jwks()
    val offline = verifyAccessTokenOffline(jwks, tokens.accessToken, "obol-scenario", "obol-app")
    same(offline.kind to offline.id, "user" to user.id)
    failsWith<AuthException.Unauthorized> {
        verifyAccessTokenOffline(jwks, tokens.accessToken, "obol-scenario", "another-app")
    }
    same(engine.verifyAccessToken(tokens.accessToken), offline)

    val refreshed = engine.refresh(tokens.refreshToken)
    val reused = failsWith<AuthException.Unauthorized> { engine.refresh(tokens.refreshToken) }
    same(reused.code, "unauthenticated")
    engine.logOut(refreshed.refreshToken)
    failsWith<AuthException.Unauthorized> { engine.verifyAccessToken(refreshed.accessToken) }
    failsWith<AuthException.Unauthorized> { engine.logIn("ada@example.com", "not the password", "test") }
    // Failures count per account and source: ten from one device stop that device only.
    repeat(10) {
        failsWith<AuthException.Unauthorized> { engine.logIn("ada@example.com", "wrong", "test", source = "device-a") }
    }
    val stopped = failsWith<AuthException.Unavailable> { engine.logIn("ada@example.com", password, "test", null, "device-a") }
    same(stopped.code, "too_many_attempts")
    engine.logIn("ada@example.com", password, "test", source = "device-b")

    val key = engine.issueApiKey("till", listOf("payments:write"))
    val principal = engine.authenticateApiKey(key.secret!!)
    same(principal.kind to principal.scopes, "api_key" to listOf("payments:write"))

    // A tenant issues keys within what it holds; a key's holder acts through its tenant.
    val reader = shop.issueApiKey("reports", listOf("payments:read"), "test", null)
    check(reader.secret != null) { "a new key shows its secret" }
    val asReader = engine.authenticate(reader.secret!!)
    same(asReader.principal().kind, "api_key")
    val denied = failsWith<PaymentException.Unauthorized> { asReader.createPayment(order("100"), null) }
    same(denied.code, "forbidden")
    val escalate = failsWith<AuthException.Unauthorized> {
        asReader.issueApiKey("more", listOf("payments:read"), "test", null)
    }
    same(escalate.code, "forbidden")
    // A test-mode tenant makes no live keys.
    val live = failsWith<AuthException.Unauthorized> { shop.issueApiKey("live", listOf("payments:read"), "live", null) }
    same(live.code, "forbidden")
    same(shop.apiKeys().size, 2) // till and reports
    val nobody = failsWith<AuthException.Unauthorized> { engine.authenticate("not a credential") }
    same(nobody.code, "unauthenticated")
    engine.shutdown()
    engine.close()
}

suspend fun aTenantSeesOnlyItsOwnMerchant() {
    val engine = openFresh()
    val a = engine.actAs(MERCHANT_A, null, "test")
    val b = engine.actAs(MERCHANT_B, null, "test")
    val card = CardInput("4242 4242 4242 4242", 12u, 2099u, "123")
    val paid = a.createPayment(order("700"), null)
    a.attachCard(paid.id, card, null)
    a.confirm(paid.id, null)

    val unseen = failsWith<PaymentException.NotFound> { b.payment(paid.id) }
    same(unseen.code, "payment_not_found")
    val refund = failsWith<PaymentException.NotFound> { b.refund(paid.id, null, null) }
    same(refund.code, "payment_not_found")
    same(b.payments(10u, null), emptyList())
    same(b.events(0L, 100u, null), emptyList())
    val wallet = account(a, Direction.CREDIT)
    val peek = failsWith<LedgerException.NotFound> { b.balance(wallet) }
    same(peek.code, "account_not_found")
    val theirBalance = a.merchantAccount(USD)
    same(failsWith<LedgerException.NotFound> { b.balance(theirBalance) }.code, "account_not_found")
    same(a.balance(theirBalance).posted, "0")

    // Live mode reaches no sandbox: card details are refused, and test payments are unseen.
    val live = engine.actAs(MERCHANT_A, null, "live")
    same(failsWith<PaymentException.NotFound> { live.payment(paid.id) }.code, "payment_not_found")
    val fresh = live.createPayment(order("100"), null)
    val refused = failsWith<PaymentException.Rejected> { live.attachCard(fresh.id, card, null) }
    same(refused.code, "invalid_payment_method")
    // An empty scope list grants nothing (absent means every scope).
    val nothing = engine.actAs(null, emptyList(), "test")
    same(failsWith<PaymentException.Unauthorized> { nothing.createPayment(order("100"), null) }.code, "forbidden")
    val badMode = failsWith<ObolException.Invalid> { engine.actAs(null, null, "sandbox") }
    same(badMode.code, "invalid_request")
    engine.shutdown()
    engine.close()
}

/** 8 plain threads, then 8 coroutines, × 500 transfers of 1 on one object: the totals add up. */
suspend fun eightThreads() {
    val engine = openFresh()
    val shop = engine.actAs(null, null, "test")
    val source = account(shop, Direction.DEBIT)
    val pool = account(shop, Direction.CREDIT)
    val failures = AtomicInteger()
    val threads = (1..8).map {
        thread {
            try {
                runBlocking { repeat(500) { shop.transfer(null, transfer(source, pool, "1"), emptyMap()) } }
            } catch (error: Throwable) {
                System.err.println(error)
                failures.incrementAndGet()
            }
        }
    }
    threads.forEach { it.join() }
    same(failures.get(), 0)
    same(shop.balance(pool).posted, "4000")
    same(shop.balance(source).posted, "4000")
    same(shop.history(pool, null, 1000u).items.size, 1000)

    // And 8 coroutines × 500 on the default dispatcher: suspended calls, no thread each.
    coroutineScope {
        (1..8).map {
            async(Dispatchers.Default) { repeat(500) { shop.transfer(null, transfer(source, pool, "1"), emptyMap()) } }
        }.awaitAll()
    }
    same(shop.balance(pool).posted, "8000")
    same(shop.balance(source).posted, "8000")
    engine.shutdown()
    engine.close()
}

fun main() = runBlocking {
    ledgerScenario()
    paymentScenario()
    customerAndEventsScenario()
    authScenario()
    aTenantSeesOnlyItsOwnMerchant()
    eightThreads()
    println("kotlin scenario: ok")
}
