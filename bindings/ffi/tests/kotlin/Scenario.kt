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

suspend fun account(engine: Obol, normal: Direction, noOverdraft: Boolean = false): String =
    engine.createAccount(NewAccountInput(asset = USD, normalBalance = normal, noOverdraft = noOverdraft, metadata = emptyMap())).id

suspend fun ledgerScenario() {
    val engine = openFresh()
    val cash = account(engine, Direction.DEBIT)
    val wallet = account(engine, Direction.CREDIT, noOverdraft = true)
    val revenue = account(engine, Direction.CREDIT)

    engine.transfer(null, transfer(cash, wallet, "10000"), emptyMap())
    val hold = engine.hold(null, transfer(wallet, revenue, "2500"), null, emptyMap())
    same(engine.postHold(hold.id, "1500", true, null).kind, "post_hold")
    same(engine.getHold(hold.id).status, "posted")

    val refused = failsWith<LedgerException.Rejected> { engine.transfer(null, transfer(wallet, revenue, "999999"), emptyMap()) }
    same(refused.code, "insufficient_funds")

    val key = "txn_01JD3Q4V5X6Y7Z8A9B0C1D2E3F"
    val first = engine.transfer(key, transfer(wallet, revenue, "100"), emptyMap())
    same(engine.transfer(key, transfer(wallet, revenue, "100"), emptyMap()).id, first.id)
    val clash = failsWith<LedgerException.Conflict> { engine.transfer(key, transfer(wallet, revenue, "200"), emptyMap()) }
    same(clash.code, "idempotency_conflict")
    val bad = failsWith<LedgerException.Invalid> { engine.transfer(null, transfer(cash, wallet, "12.50"), emptyMap()) }
    same(bad.code, "invalid_amount")

    same(engine.balance(wallet).posted, "8400")
    same(engine.balance(revenue).posted, "1600")
    same(engine.balance(cash).posted, "10000")
    val history = engine.history(wallet, null, 10u)
    same(
        history.items.map { it.direction to it.amount },
        listOf(Direction.CREDIT to "10000", Direction.DEBIT to "1500", Direction.DEBIT to "100"),
    )
    same(history.nextCursor, null)

    engine.shutdown()
    val closed = failsWith<LedgerException.Unavailable> { engine.balance(wallet) }
    same(closed.code, "shut_down")
    engine.close()
}

suspend fun paymentScenario() {
    val engine = openFresh()
    fun order(amount: String) =
        NewPaymentInput(amount = amount, asset = USD, captureMethod = CaptureMethod.MANUAL, metadata = emptyMap())

    val payment = engine.createPayment(order("5000"), "order-1")
    same(payment.status, "requires_payment_method")
    val card = CardInput("4242 4242 4242 4242", 12u, 2099u, "123")
    same(engine.attachCard(payment.id, card).status, "requires_confirmation")
    val confirmed = engine.confirm(payment.id, null)
    same(confirmed.status to confirmed.authorized, "requires_capture" to "5000")
    val captured = engine.capture(payment.id, "3000", true, null)
    same(captured.status to captured.captured, "succeeded" to "3000")
    same(engine.refund(payment.id, "1000", "refund-1").refunded, "1000")

    same(engine.createPayment(order("5000"), "order-1").id, payment.id)
    val clash = failsWith<PaymentException.Conflict> { engine.createPayment(order("6000"), "order-1") }
    same(clash.code, "idempotency_conflict")
    val tooMuch = failsWith<PaymentException.Rejected> { engine.refund(payment.id, "5000", null) }
    same(tooMuch.code, "exceeds_refundable")

    same(engine.balance(engine.merchantAccount(USD)).posted, "2000")
    same(engine.payments(10u, null).map { it.refunded }, listOf("1000"))
    engine.shutdown()
    engine.close()
}

/** The events of a customer's card payment: created, attached, sent to the provider, paid. */
val eventKinds = listOf(
    "payment.created", "payment.requires_confirmation", "payment.processing", "payment.succeeded",
)

suspend fun customerAndEventsScenario() {
    val engine = openFresh()
    val customer = engine.createCustomer(NewCustomerInput(email = "ada@example.com", name = "Ada", metadata = emptyMap()))
    val read = engine.customer(customer.id)
    same(read.email to read.name, "ada@example.com" to "Ada")
    val bad = failsWith<PaymentException.Invalid> {
        engine.createCustomer(NewCustomerInput(email = "not-an-email", name = "Ada", metadata = emptyMap()))
    }
    same(bad.code, "invalid_customer")

    val saved = engine.saveCard(customer.id, CardInput("4242 4242 4242 4242", 12u, 2099u, "123"))
    same(saved.brand to saved.last4, "visa" to "4242")
    same(engine.savedCards(customer.id).size, 1)

    val order = NewPaymentInput(
        amount = "2500", asset = USD, captureMethod = CaptureMethod.AUTOMATIC,
        customer = customer.id, metadata = emptyMap(),
    )
    val payment = engine.createPayment(order, null)
    same(payment.customer, customer.id)
    engine.attachSavedCard(payment.id, saved.id)
    val paid = engine.confirm(payment.id, null)
    same(paid.status to paid.captured, "succeeded" to "2500")

    val events = engine.events(0L, 100u, payment.id)
    same(events.map { it.kind }, eventKinds)
    same(events.map { it.sequence }.sorted(), events.map { it.sequence })
    same(events.last().payment.status, "succeeded")
    same(engine.events(events[0].sequence, 1u, null).map { it.id }, listOf(events[1].id))

    check(engine.detachCard(saved.id).detached) { "the card is not detached" }
    same(engine.savedCards(customer.id), emptyList())
    val again = failsWith<PaymentException.NotFound> { engine.detachCard(saved.id) }
    same(again.code, "payment_method_not_found")
    engine.shutdown()
    engine.close()
}

suspend fun authScenario() {
    val engine = openFresh()
    val password = "correct horse battery staple"
    val user = engine.signUp("Ada@Example.com", password, emptyList())
    same(user.email, "ada@example.com")
    val tokens = engine.logIn("ada@example.com", password)
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
    failsWith<AuthException.Unauthorized> { engine.logIn("ada@example.com", "not the password") }

    val key = engine.issueApiKey("till", listOf("payments:write"))
    val principal = engine.authenticateApiKey(key.secret)
    same(principal.kind to principal.scopes, "api_key" to listOf("payments:write"))
    engine.shutdown()
    engine.close()
}

/** 8 plain threads, then 8 coroutines, × 500 transfers of 1 on one object: the totals add up. */
suspend fun eightThreads() {
    val engine = openFresh()
    val source = account(engine, Direction.DEBIT)
    val pool = account(engine, Direction.CREDIT)
    val failures = AtomicInteger()
    val threads = (1..8).map {
        thread {
            try {
                runBlocking { repeat(500) { engine.transfer(null, transfer(source, pool, "1"), emptyMap()) } }
            } catch (error: Throwable) {
                System.err.println(error)
                failures.incrementAndGet()
            }
        }
    }
    threads.forEach { it.join() }
    same(failures.get(), 0)
    same(engine.balance(pool).posted, "4000")
    same(engine.balance(source).posted, "4000")
    same(engine.history(pool, null, 1000u).items.size, 1000)

    // And 8 coroutines × 500 on the default dispatcher: suspended calls, no thread each.
    coroutineScope {
        (1..8).map {
            async(Dispatchers.Default) { repeat(500) { engine.transfer(null, transfer(source, pool, "1"), emptyMap()) } }
        }.awaitAll()
    }
    same(engine.balance(pool).posted, "8000")
    same(engine.balance(source).posted, "8000")
    engine.shutdown()
    engine.close()
}

fun main() = runBlocking {
    ledgerScenario()
    paymentScenario()
    customerAndEventsScenario()
    authScenario()
    eightThreads()
    println("kotlin scenario: ok")
}
