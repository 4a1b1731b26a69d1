"""Writes the seed corpus of each fuzz target into corpus/<target>/: valid inputs (tokens
signed with the fixture keys, a delivery signed with the reference secret, request bodies
from the API's examples) and near misses. Run once; the corpus is committed."""

import base64
import hashlib
import hmac
import json
import os

import jwt
from cryptography.hazmat.primitives import serialization

NOW = 1_800_000_000
HERE = os.path.dirname(os.path.abspath(__file__))


def write(target: str, seeds: list) -> None:
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    for seed in seeds:
        data = seed.encode() if isinstance(seed, str) else seed
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(folder, name), "wb") as out:
            out.write(data)


def key(name: str):
    with open(os.path.join(HERE, "fixtures", name), "rb") as der:
        return serialization.load_der_private_key(der.read(), password=None)


claims = {"iss": "https://obol.example", "aud": "obol-api", "sub": "usr_1", "iat": NOW,
          "nbf": NOW, "exp": NOW + 900, "scope": "payments:read", "mer": "mer_acme"}
jwt_seeds = []
# Whole tokens (flag 8): signed by PyJWT with the fixture keys, and near misses.
for kid, alg, fixture in [("fuzz-rsa", "RS256", "rs256.pk8"), ("fuzz-ed", "EdDSA", "eddsa.pk8")]:
    headers = {"kid": kid, "typ": "at+jwt"}
    for token in [
        jwt.encode(claims, key(fixture), algorithm=alg, headers=headers),
        jwt.encode(dict(claims, aud=["other", "obol-api"]), key(fixture), algorithm=alg, headers=headers),
        jwt.encode(dict(claims, exp=NOW - 60), key(fixture), algorithm=alg, headers=headers),
        jwt.encode(claims, key(fixture), algorithm=alg, headers=dict(headers, typ="JWT")),
    ]:
        jwt_seeds.append(b"\x08" + token.encode())
jwt_seeds.append(b"\x08" + jwt.encode(claims, "secret", algorithm="HS256",
                                      headers={"kid": "fuzz-rsa", "typ": "at+jwt"}).encode())
jwt_seeds.append(b"\x08eyJhbGciOiJub25lIn0.e30.")
# Header and claims the harness signs (flag bit 0: which key; bit 1: corrupt).
for flags, header in [(0, {"alg": "RS256", "typ": "at+jwt", "kid": "fuzz-rsa"}),
                      (1, {"alg": "EdDSA", "typ": "at+jwt", "kid": "fuzz-ed"}),
                      (3, {"alg": "EdDSA", "typ": "at+jwt", "kid": "fuzz-ed"}),
                      (1, {"alg": "EdDSA", "typ": "at+jwt", "kid": "fuzz-rsa"}),
                      (1, {"alg": "EdDSA", "typ": "at+jwt", "kid": "fuzz-ed", "jku": "x"})]:
    for body in [claims, dict(claims, nbf=NOW + 31), dict(claims, nbf="now"), dict(claims, exp=1.5e9),
                 dict(claims, aud=["obol-api"]), dict(claims, iss=None)]:
        jwt_seeds.append(bytes([flags]) + json.dumps(header).encode() + b"\0" + json.dumps(body).encode())
# JWK documents (flag 4).
for jwk in [{"kty": "RSA", "kid": "k", "alg": "RS256", "use": "sig", "n": "AQAB", "e": "AQAB"},
            {"kty": "OKP", "kid": "k", "alg": "EdDSA", "use": "sig", "crv": "Ed25519",
             "x": base64.urlsafe_b64encode(bytes(32)).decode().rstrip("=")}]:
    jwt_seeds.append(b"\x04" + json.dumps(jwk).encode())
write("jwt_verify", jwt_seeds)

secret = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
deliveries = []
for ts, body in [(1_700_000_000, b'{"type":"payment.succeeded"}'), (1_700_000_100, b""),
                 (1_699_999_800, b'{"test": 2432232314}')]:
    msg_id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    tag = hmac.new(secret, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    signature = "v1," + base64.b64encode(tag).decode()
    deliveries.append(b"\x00" + f"{msg_id}\n{ts}\n{signature}\n".encode() + body)
    deliveries.append(b"\x00" + f"{msg_id}\n{ts}\nv1,AAAA v2,xyz {signature}\n".encode() + body)
    # The harness signs (flag 1), or signs and corrupts (flag 3).
    deliveries.append(b"\x01" + f"{msg_id}\n{ts}\nv1,AAAA\n".encode() + body)
    deliveries.append(b"\x03" + f"{msg_id}\n {ts} \nv1,AAAA\n".encode() + body)
deliveries.append(b"\x01id\n+1700000000\nv0,x\n{}")
deliveries.append(b"\x01id\n01700000000\nv0,x\n{}")
deliveries.append(b"\x00id\n-9223372036854775808\nv1,\n")
write("webhook_signature", deliveries)

write("amounts_and_ids", ["1250", "-0.5", "12.34", "0", "-0", "1e5", "0x10", " 7 ", "+3",
                          "99999999999999999999999999999999999999", "1.000000000000000001",
                          "170141183460469231731687303715884105727", "pay_0123456789abcdef",
                          "acct_ledger_1", "mer_acme", "usr_", "txn_a:b", "evt_\u00e9"])

write("request_bodies", [
    json.dumps({"amount": "1250", "asset": "EUR", "confirm": True,
                "payment_method": {"card": {"number": "4242424242424242", "exp_month": 12,
                                            "exp_year": 2030, "cvc": "123"}}}),
    json.dumps({"amount": "500", "asset": "USD", "capture_method": "manual",
                "metadata": {"order": "42"}, "description": "Tea"}),
    json.dumps({"amount": "100", "reason": "requested_by_customer"}),
    json.dumps({}),
    json.dumps({"entries": [{"account": "acct_a", "direction": "debit", "asset": "USD", "amount": "100"},
                            {"account": "acct_b", "direction": "credit", "asset": "USD", "amount": "100"}],
                "metadata": {"k": "v"}, "effective_at": 1800000000000000}),
    "[null, null]",
    '{"amount": "1", "amount": "2"}',
])

# Stripe deliveries: flags byte (1 = the harness appends a correct v1 over the header's own t,
# 2 = it flips a bit of it, 4 = read as a live endpoint), the header line, then the body.
def stripe_event(kind: str, obj: dict, live: bool = False) -> bytes:
    return json.dumps({"id": "evt_1", "type": kind, "livemode": live,
                       "data": {"object": obj}}).encode()


write("stripe_webhooks", [
    b"\x01t=1700000000\n" + stripe_event("payment_intent.succeeded",
                                         {"id": "pi_1", "amount_received": 1999}),
    b"\x05t=1700000100, v0=abc\n" + stripe_event("payment_intent.amount_capturable_updated",
                                                {"id": "pi_2", "amount_capturable": 500}, True),
    b"\x01t=1699999800\n" + stripe_event("payment_intent.payment_failed", {
        "id": "pi_3", "last_payment_error": {"code": "card_declined",
                                             "decline_code": "insufficient_funds"}}),
    b"\x01t=1700000000\n" + stripe_event("charge.dispute.created", {
        "amount": 1250, "reason": "fraudulent", "status": "needs_response",
        "payment_intent": "pi_1"}),
    b"\x03t=1700000000\n" + stripe_event("payment_intent.succeeded",
                                         {"id": "pi_5", "amount_received": 1}),
    b"\x01t=1600000000\n{}",
    b"\x01t=1700000000,t=1700000001\n{}",
    b"\x00t=1700000000,v1=00\n" + stripe_event("charge.dispute.closed", {}),
])
