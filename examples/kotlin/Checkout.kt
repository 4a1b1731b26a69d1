// A small checkout on the embedded engine from Kotlin: a customer pays 42.50 USD with the
// sandbox card, a declined card is shown, and the merchant's balance is read.
// Build and run: examples/kotlin/run.sh

import dev.obol.*
import java.nio.file.Files
import kotlinx.coroutines.runBlocking

suspend fun pay(shop: Tenant, number: String, order: String): PaymentRecord {
    val input = NewPaymentInput(
        amount = "4250",
        asset = "USD",
        captureMethod = CaptureMethod.AUTOMATIC,
        metadata = mapOf("order" to order),
    )
    val payment = shop.createPayment(input, "checkout-$order")
    shop.attachCard(payment.id, CardInput(number, 12u, 2099u, "123"), null)
    return shop.confirm(payment.id, null)
}

fun main() = runBlocking {
    val directory = Files.createTempDirectory("obol-checkout")
    val options = ObolOptions(generateKeyEncryptionKey(), "checkout-example", "checkout-example")
    openObol("sqlite://$directory/shop.db", options).use { engine ->
        // The app acting as its own (default) merchant, in test mode.
        val shop = engine.actAs(null, null, "test")
        val paid = pay(shop, "4242 4242 4242 4242", "1001")
        println("order 1001: ${paid.id} ${paid.status}, captured ${paid.captured} minor units")
        val declined = pay(shop, "4000 0000 0000 0002", "1002")
        println("order 1002: ${declined.status} (${declined.lastDecline})")
        val balance = shop.balance(shop.merchantAccount("USD"))
        println("merchant balance: ${balance.posted} minor units of USD")
        engine.shutdown()
    }
}
