// Calls per second through the Kotlin binding: `balance` (a cheap read) and `transfer`, one
// call at a time. Run by bindings/bench/run.sh.

import dev.obol.*
import java.nio.file.Files
import kotlinx.coroutines.runBlocking

fun main(args: Array<String>) = runBlocking {
    val calls = args.firstOrNull()?.toInt() ?: 20000
    val directory = Files.createTempDirectory("obol-bench")
    val engine = openObol("sqlite://$directory/bench.db", ObolOptions(generateKeyEncryptionKey(), "b", "b"))
    val shop = engine.actAs(null, null, "test")
    val a = shop.createAccount(NewAccountInput(asset = "USD", normalBalance = Direction.DEBIT, metadata = emptyMap())).id
    val b = shop.createAccount(NewAccountInput(asset = "USD", normalBalance = Direction.CREDIT, metadata = emptyMap())).id
    val entries = listOf(EntryInput(a, Direction.DEBIT, "1", "USD"), EntryInput(b, Direction.CREDIT, "1", "USD"))
    val cases: List<Triple<String, suspend () -> Unit, Int>> = listOf(
        Triple("balance", { shop.balance(a); Unit }, calls),
        Triple("transfer", { shop.transfer(null, entries, emptyMap()); Unit }, calls / 10),
    )
    for ((name, call, count) in cases) {
        val started = System.nanoTime()
        repeat(count) { call() }
        val elapsed = System.nanoTime() - started
        println("binding kotlin  %-8s calls/s %8d  per call %5d µs".format(name, count * 1_000_000_000L / elapsed, elapsed / count / 1000))
    }
    engine.shutdown()
    engine.close()
}
