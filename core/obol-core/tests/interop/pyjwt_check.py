"""The other side of jwt_interop.rs: PyJWT (a standard JOSE library) verifies the tokens Obol
signed against Obol's JWKS, then signs tokens of its own (RS256 and EdDSA keys made by
`cryptography`) for Obol to verify, and hands over its RSA private key as PKCS#8 DER.

Reads one JSON object on stdin, writes one on stdout."""

import base64
import json
import sys

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa


def main() -> None:
    request = json.load(sys.stdin)
    keys = {k["kid"]: jwt.PyJWK.from_dict(k) for k in request["jwks"]["keys"]}
    verified = []
    for token in request["tokens"]:
        # The kid only selects among known keys; the algorithm is the key's, never the token's.
        key = keys[jwt.get_unverified_header(token)["kid"]]
        verified.append(
            jwt.decode(
                token,
                key=key.key,
                algorithms=[key.algorithm_name],
                audience=request["aud"],
                issuer=request["iss"],
                options={"require": ["exp", "iss", "aud"]},
            )
        )

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    claims = {"iss": request["iss"], "aud": request["aud"], "sub": "usr_py", "exp": request["exp"]}
    tokens = [
        jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "py-rsa", "typ": "at+jwt"}),
        jwt.encode(claims, ed_key, algorithm="EdDSA", headers={"kid": "py-ed", "typ": "at+jwt"}),
    ]
    jwks = {
        "keys": [
            dict(json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key())),
                 kid="py-rsa", alg="RS256", use="sig"),
            dict(json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(ed_key.public_key())),
                 kid="py-ed", alg="EdDSA", use="sig"),
        ]
    }
    pkcs8 = rsa_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    json.dump(
        {
            "verified": verified,
            "tokens": tokens,
            "jwks": jwks,
            "rsa_pkcs8": base64.b64encode(pkcs8).decode(),
        },
        sys.stdout,
    )


main()
