"""Calls per second through the Python binding: `balance` (a cheap read) and `transfer`, one
call at a time. Run by bindings/bench/run.sh."""

import asyncio
import sys
import tempfile
import time

import obol_ffi as obol

CALLS = int(sys.argv[1]) if len(sys.argv) > 1 else 20000


async def main():
    with tempfile.TemporaryDirectory() as directory:
        options = obol.ObolOptions(
            key_encryption_key=obol.generate_key_encryption_key(), issuer="b", audience="b"
        )
        engine = await obol.open_obol(f"sqlite://{directory}/bench.db", options)
        shop = engine.act_as(None, None, "test")
        new = lambda side: obol.NewAccountInput(asset="USD", normal_balance=side, metadata={})
        a = (await shop.create_account(new(obol.Direction.DEBIT))).id
        b = (await shop.create_account(new(obol.Direction.CREDIT))).id
        entries = [
            obol.EntryInput(account=a, direction=obol.Direction.DEBIT, amount="1", asset="USD"),
            obol.EntryInput(account=b, direction=obol.Direction.CREDIT, amount="1", asset="USD"),
        ]
        for name, call, count in [
            ("balance", lambda: shop.balance(a), CALLS),
            ("transfer", lambda: shop.transfer(None, entries, {}), CALLS // 10),
        ]:
            started = time.perf_counter_ns()
            for _ in range(count):
                await call()
            elapsed_ns = time.perf_counter_ns() - started
            print(f"binding python  {name:<8} calls/s {count * 10**9 // elapsed_ns:>8}  "
                  f"per call {elapsed_ns // count // 1000:>5} µs")
        await engine.shutdown()


asyncio.run(main())
