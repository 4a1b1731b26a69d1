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
tokens = []
for kid, alg, fixture in [("fuzz-rsa", "RS256", "rs256.pk8"), ("fuzz-ed", "EdDSA", "eddsa.pk8")]:
    headers = {"kid": kid, "typ": "at+jwt"}
    tokens.append(jwt.encode(claims, key(fixture), algorithm=alg, headers=headers))
    tokens.append(jwt.encode(dict(claims, aud=["other", "obol-api"]), key(fixture), algorithm=alg, headers=headers))
    tokens.append(jwt.encode(dict(claims, exp=NOW - 60), key(fixture), algorithm=alg, headers=headers))
    tokens.append(jwt.encode(claims, key(fixture), algorithm=alg, headers=dict(headers, typ="JWT")))
tokens.append(jwt.encode(claims, "secret", algorithm="HS256", headers={"kid": "fuzz-rsa", "typ": "at+jwt"}))
tokens.append("eyJhbGciOiJub25lIn0.e30.")
write("jwt_verify", tokens)

secret = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
deliveries = []
for ts, body in [(1_700_000_000, b'{"type":"payment.succeeded"}'), (1_700_000_100, b""),
                 (1_699_999_800, b'{"test": 2432232314}')]:
    msg_id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    tag = hmac.new(secret, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    signature = "v1," + base64.b64encode(tag).decode()
    deliveries.append(f"{msg_id}\n{ts}\n{signature}\n".encode() + body)
    deliveries.append(f"{msg_id}\n{ts}\nv1,AAAA v2,xyz {signature}\n".encode() + body)
deliveries.append(b"id\n-9223372036854775808\nv1,\n")
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
