"""A small checkout on the embedded engine from Python: a customer pays 42.50 USD with the
sandbox card, a declined card is shown, and the merchant's balance is read.

    bindings/ffi/generate.sh
    PYTHONPATH=bindings/ffi/python python3 examples/python/checkout.py
"""

import asyncio
import atexit
import tempfile

import obol_ffi as obol

# Stop the library's runtime before the interpreter finalizes (see obol.stop_runtime).
atexit.register(obol.stop_runtime)


async def pay(shop, card_number, order):
    payment = await shop.create_payment(
        obol.NewPaymentInput(
            amount="4250",
            asset="USD",
            capture_method=obol.CaptureMethod.AUTOMATIC,
            metadata={"order": order},
        ),
        f"checkout-{order}",
    )
    card = obol.CardInput(number=card_number, exp_month=12, exp_year=2099, cvc="123")
    await shop.attach_card(payment.id, card, None)
    return await shop.confirm(payment.id, None)


async def main():
    with tempfile.TemporaryDirectory() as directory:
        options = obol.ObolOptions(
            key_encryption_key=obol.generate_key_encryption_key(),
            issuer="checkout-example",
            audience="checkout-example",
        )
        engine = await obol.open_obol(f"sqlite://{directory}/shop.db", options)
        # The app acting as its own (default) merchant, in test mode.
        shop = engine.act_as(None, None, "test")
        paid = await pay(shop, "4242 4242 4242 4242", "1001")
        print(f"order 1001: {paid.id} {paid.status}, captured {paid.captured} minor units")
        declined = await pay(shop, "4000 0000 0000 0002", "1002")
        print(f"order 1002: {declined.status} ({declined.last_decline})")
        balance = await shop.balance(await shop.merchant_account("USD"))
        print(f"merchant balance: {balance.posted} minor units of USD")
        await engine.shutdown()


asyncio.run(main())
