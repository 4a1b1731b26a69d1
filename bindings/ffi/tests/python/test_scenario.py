"""The binding scenario in Python (the same steps and figures as the Rust, Kotlin and Node
versions): run by `cargo test -p obol-ffi --test languages` with the generated module on
PYTHONPATH."""

import asyncio
import atexit
import tempfile
import threading
import unittest

import obol_ffi as obol

# Stop the library's runtime before the interpreter finalizes (see obol.stop_runtime).
atexit.register(obol.stop_runtime)

USD = "USD"
# Two merchants of one engine, each a tenant that sees only its own things.
MERCHANT_A = "mer_01JD3Q4V5X6Y7Z8A9B0C1D2E3A"
MERCHANT_B = "mer_01JD3Q4V5X6Y7Z8A9B0C1D2E3B"
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


async def account(shop, normal_balance, no_overdraft=False):
    created = await shop.create_account(
        obol.NewAccountInput(
            asset=USD, normal_balance=normal_balance, no_overdraft=no_overdraft, metadata={}
        )
    )
    return created.id


def order(amount):
    return obol.NewPaymentInput(
        amount=amount,
        asset=USD,
        capture_method=obol.CaptureMethod.MANUAL,
        metadata={},
    )


class Scenario(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.directory.cleanup()

    def test_ledger_scenario(self):
        asyncio.run(self.ledger_scenario())

    async def ledger_scenario(self):
        engine = await open_fresh(self.directory.name)
        shop = engine.act_as(None, None, "test")
        cash = await account(shop, obol.Direction.DEBIT)
        wallet = await account(shop, obol.Direction.CREDIT, no_overdraft=True)
        revenue = await account(shop, obol.Direction.CREDIT)

        await shop.transfer(None, transfer_entries(cash, wallet, "10000"), {})
        hold = await shop.hold(None, transfer_entries(wallet, revenue, "2500"), None, {})
        posted = await shop.post_hold(hold.id, "1500", True, None)
        self.assertEqual(posted.kind, "post_hold")
        self.assertEqual((await shop.get_hold(hold.id)).status, "posted")

        with self.assertRaises(obol.LedgerError.Rejected) as refused:
            await shop.transfer(None, transfer_entries(wallet, revenue, "999999"), {})
        self.assertEqual(refused.exception.code, "insufficient_funds")

        key = "txn_01JD3Q4V5X6Y7Z8A9B0C1D2E3F"
        first = await shop.transfer(key, transfer_entries(wallet, revenue, "100"), {})
        replay = await shop.transfer(key, transfer_entries(wallet, revenue, "100"), {})
        self.assertEqual(replay.id, first.id)
        with self.assertRaises(obol.LedgerError.Conflict) as clash:
            await shop.transfer(key, transfer_entries(wallet, revenue, "200"), {})
        self.assertEqual(clash.exception.code, "idempotency_conflict")

        with self.assertRaises(obol.LedgerError.Invalid) as bad:
            await shop.transfer(None, transfer_entries(cash, wallet, "12.50"), {})
        self.assertEqual(bad.exception.code, "invalid_amount")

        self.assertEqual((await shop.balance(wallet)).posted, "8400")
        self.assertEqual((await shop.balance(revenue)).posted, "1600")
        self.assertEqual((await shop.balance(cash)).posted, "10000")
        history = await shop.history(wallet, None, 10)
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
            await shop.balance(wallet)
        self.assertEqual(closed.exception.code, "shut_down")

    def test_payment_scenario(self):
        asyncio.run(self.payment_scenario())

    async def payment_scenario(self):
        engine = await open_fresh(self.directory.name)
        shop = engine.act_as(None, None, "test")

        payment = await shop.create_payment(order("5000"), "order-1")
        self.assertEqual(payment.status, "requires_payment_method")
        card = obol.CardInput(number="4242 4242 4242 4242", exp_month=12, exp_year=2099, cvc="123")
        attached = await shop.attach_card(payment.id, card, None)
        self.assertEqual(attached.status, "requires_confirmation")
        confirmed = await shop.confirm(payment.id, None)
        self.assertEqual((confirmed.status, confirmed.authorized), ("requires_capture", "5000"))
        captured = await shop.capture(payment.id, "3000", True, None)
        self.assertEqual((captured.status, captured.captured), ("succeeded", "3000"))
        refunded = await shop.refund(payment.id, "1000", "refund-1")
        self.assertEqual(refunded.refunded, "1000")

        replay = await shop.create_payment(order("5000"), "order-1")
        self.assertEqual(replay.id, payment.id)
        with self.assertRaises(obol.PaymentError.Conflict) as clash:
            await shop.create_payment(order("6000"), "order-1")
        self.assertEqual(clash.exception.code, "idempotency_conflict")
        with self.assertRaises(obol.PaymentError.Rejected) as too_much:
            await shop.refund(payment.id, "5000", None)
        self.assertEqual(too_much.exception.code, "exceeds_refundable")

        merchant = await shop.merchant_account(USD)
        self.assertEqual((await shop.balance(merchant)).posted, "2000")
        listed = await shop.payments(10, None)
        self.assertEqual([p.refunded for p in listed], ["1000"])
        await engine.shutdown()

    def test_customer_and_events_scenario(self):
        asyncio.run(self.customer_and_events_scenario())

    async def customer_and_events_scenario(self):
        engine = await open_fresh(self.directory.name)
        shop = engine.act_as(None, None, "test")
        customer = await shop.create_customer(
            obol.NewCustomerInput(email="ada@example.com", name="Ada", metadata={})
        )
        read = await shop.customer(customer.id)
        self.assertEqual((read.email, read.name), ("ada@example.com", "Ada"))
        with self.assertRaises(obol.PaymentError.Invalid) as bad:
            await shop.create_customer(
                obol.NewCustomerInput(email="not-an-email", name="Ada", metadata={})
            )
        self.assertEqual(bad.exception.code, "invalid_customer")

        card = obol.CardInput(number="4242 4242 4242 4242", exp_month=12, exp_year=2099, cvc="123")
        saved = await shop.save_card(customer.id, card, None)
        self.assertEqual((saved.brand, saved.last4), ("visa", "4242"))
        self.assertEqual(len(await shop.saved_cards(customer.id)), 1)

        order = obol.NewPaymentInput(
            amount="2500",
            asset=USD,
            capture_method=obol.CaptureMethod.AUTOMATIC,
            customer=customer.id,
            metadata={},
        )
        payment = await shop.create_payment(order, None)
        self.assertEqual(payment.customer, customer.id)
        await shop.attach_saved_card(payment.id, saved.id, None)
        paid = await shop.confirm(payment.id, None)
        self.assertEqual((paid.status, paid.captured), ("succeeded", "2500"))

        events = await shop.events(0, 100, payment.id)
        self.assertEqual([e.kind for e in events], EVENT_KINDS)
        self.assertEqual(sorted(e.sequence for e in events), [e.sequence for e in events])
        self.assertEqual(events[-1].payment.status, "succeeded")
        following = await shop.events(events[0].sequence, 1, None)
        self.assertEqual([e.id for e in following], [events[1].id])

        detached = await shop.detach_card(saved.id)
        self.assertTrue(detached.detached)
        self.assertEqual(await shop.saved_cards(customer.id), [])
        with self.assertRaises(obol.PaymentError.NotFound) as again:
            await shop.detach_card(saved.id)
        self.assertEqual(again.exception.code, "payment_method_not_found")
        await engine.shutdown()

    def test_auth_scenario(self):
        asyncio.run(self.auth_scenario())

    async def auth_scenario(self):
        engine = await open_fresh(self.directory.name)
        shop = engine.act_as(None, None, "test")
        password = "correct horse battery staple"
        user = await engine.sign_up("Ada@Example.com", password, None)
        self.assertEqual(user.email, "ada@example.com")
        tokens = await engine.log_in("ada@example.com", password, "test")
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
            await engine.log_in("ada@example.com", "not the password", "test")
        # Failures count per account and source: ten from one device stop that device only.
        for _ in range(10):
            with self.assertRaises(obol.AuthError.Unauthorized):
                await engine.log_in("ada@example.com", "wrong", "test", source="device-a")
        with self.assertRaises(obol.AuthError.Unavailable) as stopped:
            await engine.log_in("ada@example.com", password, "test", source="device-a")
        self.assertEqual(stopped.exception.code, "too_many_attempts")
        await engine.log_in("ada@example.com", password, "test", None, "device-b")

        key = await engine.issue_api_key("till", ["payments:write"])
        principal = await engine.authenticate_api_key(key.secret)
        self.assertEqual((principal.kind, principal.scopes), ("api_key", ["payments:write"]))

        # A tenant issues keys within what it holds; a key's holder acts through its tenant.
        reader = await shop.issue_api_key("reports", ["payments:read"], "test", None)
        self.assertIsNotNone(reader.secret)
        as_reader = await engine.authenticate(reader.secret)
        self.assertEqual(as_reader.principal().kind, "api_key")
        with self.assertRaises(obol.PaymentError.Unauthorized) as denied:
            await as_reader.create_payment(order("100"), None)
        self.assertEqual(denied.exception.code, "forbidden")
        with self.assertRaises(obol.AuthError.Unauthorized) as escalate:
            await as_reader.issue_api_key("more", ["payments:read"], "test", None)
        self.assertEqual(escalate.exception.code, "forbidden")
        # A test-mode tenant makes no live keys.
        with self.assertRaises(obol.AuthError.Unauthorized) as live:
            await shop.issue_api_key("live", ["payments:read"], "live", None)
        self.assertEqual(live.exception.code, "forbidden")
        self.assertEqual(len(await shop.api_keys()), 2)  # till and reports
        with self.assertRaises(obol.AuthError.Unauthorized) as nobody:
            await engine.authenticate("not a credential")
        self.assertEqual(nobody.exception.code, "unauthenticated")
        await engine.shutdown()

    def test_a_tenant_sees_only_its_own_merchant(self):
        asyncio.run(self.a_tenant_sees_only_its_own_merchant())

    async def a_tenant_sees_only_its_own_merchant(self):
        engine = await open_fresh(self.directory.name)
        a = engine.act_as(MERCHANT_A, None, "test")
        b = engine.act_as(MERCHANT_B, None, "test")
        card = obol.CardInput(number="4242 4242 4242 4242", exp_month=12, exp_year=2099, cvc="123")
        paid = await a.create_payment(order("700"), None)
        await a.attach_card(paid.id, card, None)
        await a.confirm(paid.id, None)

        with self.assertRaises(obol.PaymentError.NotFound) as unseen:
            await b.payment(paid.id)
        self.assertEqual(unseen.exception.code, "payment_not_found")
        with self.assertRaises(obol.PaymentError.NotFound) as refund:
            await b.refund(paid.id, None, None)
        self.assertEqual(refund.exception.code, "payment_not_found")
        self.assertEqual(await b.payments(10, None), [])
        self.assertEqual(await b.events(0, 100, None), [])
        wallet = await account(a, obol.Direction.CREDIT)
        with self.assertRaises(obol.LedgerError.NotFound) as peek:
            await b.balance(wallet)
        self.assertEqual(peek.exception.code, "account_not_found")
        their_balance = await a.merchant_account(USD)
        with self.assertRaises(obol.LedgerError.NotFound) as theirs:
            await b.balance(their_balance)
        self.assertEqual(theirs.exception.code, "account_not_found")
        self.assertEqual((await a.balance(their_balance)).posted, "0")

        # Live mode reaches no sandbox: card details are refused, and test payments are unseen.
        live = engine.act_as(MERCHANT_A, None, "live")
        with self.assertRaises(obol.PaymentError.NotFound) as hidden:
            await live.payment(paid.id)
        self.assertEqual(hidden.exception.code, "payment_not_found")
        fresh = await live.create_payment(order("100"), None)
        with self.assertRaises(obol.PaymentError.Rejected) as refused:
            await live.attach_card(fresh.id, card, None)
        self.assertEqual(refused.exception.code, "invalid_payment_method")
        # An empty scope list grants nothing (absent means every scope).
        with self.assertRaises(obol.PaymentError.Unauthorized) as denied:
            await engine.act_as(None, [], "test").create_payment(order("100"), None)
        self.assertEqual(denied.exception.code, "forbidden")
        with self.assertRaises(obol.ObolError.Invalid) as bad_mode:
            engine.act_as(None, None, "sandbox")
        self.assertEqual(bad_mode.exception.code, "invalid_request")
        await engine.shutdown()

    def test_eight_threads_of_500_transfers_keep_the_totals(self):
        engine, shop, source, pool = asyncio.run(self.two_accounts())
        failures = []

        def worker():
            async def transfers():
                for _ in range(500):
                    await shop.transfer(None, transfer_entries(source, pool, "1"), {})

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
        self.assertEqual(asyncio.run(shop.balance(pool)).posted, "4000")
        self.assertEqual(asyncio.run(shop.balance(source)).posted, "4000")
        history = asyncio.run(shop.history(pool, None, 1000))
        self.assertEqual(len(history.items), 1000)
        asyncio.run(engine.shutdown())

    async def two_accounts(self):
        engine = await open_fresh(self.directory.name)
        shop = engine.act_as(None, None, "test")
        return engine, shop, await account(shop, obol.Direction.DEBIT), await account(
            shop, obol.Direction.CREDIT
        )


if __name__ == "__main__":
    unittest.main()
