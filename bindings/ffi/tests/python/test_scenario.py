"""The binding scenario in Python (the same steps and figures as the Rust, Kotlin and Node
versions): run by `cargo test -p obol-ffi --test languages` with the generated module on
PYTHONPATH."""

import asyncio
import tempfile
import threading
import unittest

import obol_ffi as obol

USD = "USD"
# The events of a customer's card payment: created, attached, sent to the provider, paid.
EVENT_KINDS = [
    "payment.created",
    "payment.requires_confirmation",
    "payment.processing",
    "payment.succeeded",
]


def entry(account, direction, amount):
    return obol.EntryInput(account=account, direction=direction, amount=amount, asset=USD)


def transfer_entries(debit, credit, amount):
    return [
        entry(debit, obol.Direction.DEBIT, amount),
        entry(credit, obol.Direction.CREDIT, amount),
    ]


async def open_fresh(directory):
    options = obol.ObolOptions(
        key_encryption_key=obol.generate_key_encryption_key(),
        issuer="obol-scenario",
        audience="obol-app",
    )
    return await obol.open_obol(f"sqlite://{directory}/app.db", options)


async def account(engine, normal_balance, no_overdraft=False):
    created = await engine.create_account(
        obol.NewAccountInput(
            asset=USD, normal_balance=normal_balance, no_overdraft=no_overdraft, metadata={}
        )
    )
    return created.id


class Scenario(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.directory.cleanup()

    def test_ledger_scenario(self):
        asyncio.run(self.ledger_scenario())

    async def ledger_scenario(self):
        engine = await open_fresh(self.directory.name)
        cash = await account(engine, obol.Direction.DEBIT)
        wallet = await account(engine, obol.Direction.CREDIT, no_overdraft=True)
        revenue = await account(engine, obol.Direction.CREDIT)

        await engine.transfer(None, transfer_entries(cash, wallet, "10000"), {})
        hold = await engine.hold(None, transfer_entries(wallet, revenue, "2500"), None, {})
        posted = await engine.post_hold(hold.id, "1500", True, None)
        self.assertEqual(posted.kind, "post_hold")
        self.assertEqual((await engine.get_hold(hold.id)).status, "posted")

        with self.assertRaises(obol.LedgerError.Rejected) as refused:
            await engine.transfer(None, transfer_entries(wallet, revenue, "999999"), {})
        self.assertEqual(refused.exception.code, "insufficient_funds")

        key = "txn_01JD3Q4V5X6Y7Z8A9B0C1D2E3F"
        first = await engine.transfer(key, transfer_entries(wallet, revenue, "100"), {})
        replay = await engine.transfer(key, transfer_entries(wallet, revenue, "100"), {})
        self.assertEqual(replay.id, first.id)
        with self.assertRaises(obol.LedgerError.Conflict) as clash:
            await engine.transfer(key, transfer_entries(wallet, revenue, "200"), {})
        self.assertEqual(clash.exception.code, "idempotency_conflict")

        with self.assertRaises(obol.LedgerError.Invalid) as bad:
            await engine.transfer(None, transfer_entries(cash, wallet, "12.50"), {})
        self.assertEqual(bad.exception.code, "invalid_amount")

        self.assertEqual((await engine.balance(wallet)).posted, "8400")
        self.assertEqual((await engine.balance(revenue)).posted, "1600")
        self.assertEqual((await engine.balance(cash)).posted, "10000")
        history = await engine.history(wallet, None, 10)
        self.assertEqual(
            [(item.direction, item.amount) for item in history.items],
            [
                (obol.Direction.CREDIT, "10000"),
                (obol.Direction.DEBIT, "1500"),
                (obol.Direction.DEBIT, "100"),
            ],
        )
        self.assertIsNone(history.next_cursor)

        await engine.shutdown()
        with self.assertRaises(obol.LedgerError.Unavailable) as closed:
            await engine.balance(wallet)
        self.assertEqual(closed.exception.code, "shut_down")

    def test_payment_scenario(self):
        asyncio.run(self.payment_scenario())

    async def payment_scenario(self):
        engine = await open_fresh(self.directory.name)

        def order(amount):
            return obol.NewPaymentInput(
                amount=amount,
                asset=USD,
                capture_method=obol.CaptureMethod.MANUAL,
                metadata={},
            )

        payment = await engine.create_payment(order("5000"), "order-1")
        self.assertEqual(payment.status, "requires_payment_method")
        card = obol.CardInput(number="4242 4242 4242 4242", exp_month=12, exp_year=2099, cvc="123")
        attached = await engine.attach_card(payment.id, card)
        self.assertEqual(attached.status, "requires_confirmation")
        confirmed = await engine.confirm(payment.id, None)
        self.assertEqual((confirmed.status, confirmed.authorized), ("requires_capture", "5000"))
        captured = await engine.capture(payment.id, "3000", True, None)
        self.assertEqual((captured.status, captured.captured), ("succeeded", "3000"))
        refunded = await engine.refund(payment.id, "1000", "refund-1")
        self.assertEqual(refunded.refunded, "1000")

        replay = await engine.create_payment(order("5000"), "order-1")
        self.assertEqual(replay.id, payment.id)
        with self.assertRaises(obol.PaymentError.Conflict) as clash:
            await engine.create_payment(order("6000"), "order-1")
        self.assertEqual(clash.exception.code, "idempotency_conflict")
        with self.assertRaises(obol.PaymentError.Rejected) as too_much:
            await engine.refund(payment.id, "5000", None)
        self.assertEqual(too_much.exception.code, "exceeds_refundable")

        merchant = engine.merchant_account(USD)
        self.assertEqual((await engine.balance(merchant)).posted, "2000")
        listed = await engine.payments(10, None)
        self.assertEqual([p.refunded for p in listed], ["1000"])
        await engine.shutdown()

    def test_customer_and_events_scenario(self):
        asyncio.run(self.customer_and_events_scenario())

    async def customer_and_events_scenario(self):
        engine = await open_fresh(self.directory.name)
        customer = await engine.create_customer(
            obol.NewCustomerInput(email="ada@example.com", name="Ada", metadata={})
        )
        read = await engine.customer(customer.id)
        self.assertEqual((read.email, read.name), ("ada@example.com", "Ada"))
        with self.assertRaises(obol.PaymentError.Invalid) as bad:
            await engine.create_customer(
                obol.NewCustomerInput(email="not-an-email", name="Ada", metadata={})
            )
        self.assertEqual(bad.exception.code, "invalid_customer")

        card = obol.CardInput(number="4242 4242 4242 4242", exp_month=12, exp_year=2099, cvc="123")
        saved = await engine.save_card(customer.id, card)
        self.assertEqual((saved.brand, saved.last4), ("visa", "4242"))
        self.assertEqual(len(await engine.saved_cards(customer.id)), 1)

        order = obol.NewPaymentInput(
            amount="2500",
            asset=USD,
            capture_method=obol.CaptureMethod.AUTOMATIC,
            customer=customer.id,
            metadata={},
        )
        payment = await engine.create_payment(order, None)
        self.assertEqual(payment.customer, customer.id)
        await engine.attach_saved_card(payment.id, saved.id)
        paid = await engine.confirm(payment.id, None)
        self.assertEqual((paid.status, paid.captured), ("succeeded", "2500"))

        events = await engine.events(0, 100, payment.id)
        self.assertEqual([e.kind for e in events], EVENT_KINDS)
        self.assertEqual(sorted(e.sequence for e in events), [e.sequence for e in events])
        self.assertEqual(events[-1].payment.status, "succeeded")
        following = await engine.events(events[0].sequence, 1, None)
        self.assertEqual([e.id for e in following], [events[1].id])

        detached = await engine.detach_card(saved.id)
        self.assertTrue(detached.detached)
        self.assertEqual(await engine.saved_cards(customer.id), [])
        with self.assertRaises(obol.PaymentError.NotFound) as again:
            await engine.detach_card(saved.id)
        self.assertEqual(again.exception.code, "payment_method_not_found")
        await engine.shutdown()

    def test_auth_scenario(self):
        asyncio.run(self.auth_scenario())

    async def auth_scenario(self):
        engine = await open_fresh(self.directory.name)
        password = "correct horse battery staple"
        user = await engine.sign_up("Ada@Example.com", password, [])
        self.assertEqual(user.email, "ada@example.com")
        tokens = await engine.log_in("ada@example.com", password)
        jwks = await engine.jwks()
        offline = obol.verify_access_token_offline(
            jwks, tokens.access_token, "obol-scenario", "obol-app"
        )
        self.assertEqual((offline.kind, offline.id), ("user", user.id))
        with self.assertRaises(obol.AuthError.Unauthorized):
            obol.verify_access_token_offline(
                jwks, tokens.access_token, "obol-scenario", "another-app"
            )
        self.assertEqual(await engine.verify_access_token(tokens.access_token), offline)

        refreshed = await engine.refresh(tokens.refresh_token)
        with self.assertRaises(obol.AuthError.Unauthorized) as reused:
            await engine.refresh(tokens.refresh_token)
        self.assertEqual(reused.exception.code, "unauthenticated")
        await engine.log_out(refreshed.refresh_token)
        with self.assertRaises(obol.AuthError.Unauthorized):
            await engine.verify_access_token(refreshed.access_token)
        with self.assertRaises(obol.AuthError.Unauthorized):
            await engine.log_in("ada@example.com", "not the password")

        key = await engine.issue_api_key("till", ["payments:write"])
        principal = await engine.authenticate_api_key(key.secret)
        self.assertEqual((principal.kind, principal.scopes), ("api_key", ["payments:write"]))
        await engine.shutdown()

    def test_eight_threads_of_500_transfers_keep_the_totals(self):
        engine, source, pool = asyncio.run(self.two_accounts())
        failures = []

        def worker():
            async def transfers():
                for _ in range(500):
                    await engine.transfer(None, transfer_entries(source, pool, "1"), {})

            try:
                asyncio.run(transfers())
            except Exception as error:  # reported below, with the thread's error
                failures.append(error)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(failures, [])
        self.assertEqual(asyncio.run(engine.balance(pool)).posted, "4000")
        self.assertEqual(asyncio.run(engine.balance(source)).posted, "4000")
        history = asyncio.run(engine.history(pool, None, 1000))
        self.assertEqual(len(history.items), 1000)
        asyncio.run(engine.shutdown())

    async def two_accounts(self):
        engine = await open_fresh(self.directory.name)
        return engine, await account(engine, obol.Direction.DEBIT), await account(
            engine, obol.Direction.CREDIT
        )


if __name__ == "__main__":
    unittest.main()
