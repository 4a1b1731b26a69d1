"""localstripe behind a compatibility proxy, for Obol's Stripe tests.

localstripe (PyPI) is a stateful fake of Stripe's API. It leaves out parts of the API that
Stripe's own clients rely on; this proxy, which runs in the same process, fills exactly these
and nothing else (the product code never bends to localstripe):

* PaymentIntent fields async-stripe requires: ``amount_capturable``, ``amount_received``,
  ``confirmation_method``, ``payment_method_types``, and ``latest_charge`` as an id; in every
  answer, list, search result, error and webhook event.
* ``Idempotency-Key`` replay: the first answer is kept per key and replayed; the same key with
  other parameters is an ``idempotency_error``, as on Stripe.
* ``return_url`` on PaymentIntent creation (localstripe refuses it): kept by the proxy, and a
  3-D Secure challenge is answered as Stripe answers it then, ``next_action.redirect_to_url``,
  whose URL (``/_compat/3ds/{intent}``) completes the challenge like a customer would and
  redirects to the return URL (``?fail=1`` fails it).
* Multicapture (``request_multicapture`` and ``final_capture=false``): partial captures are
  counted here; the final one captures their sum at localstripe.
* ``/v1/payment_intents/search`` and ``/v1/customers/search`` for ``metadata['k']:'v'``
  queries, and the PaymentIntent list newest first, as Stripe orders it.
* Declines carry ``error.payment_intent`` and ``type: card_error`` (also in the intent's
  ``last_payment_error``), as on Stripe.
* Webhooks registered through the proxy's ``/_config/webhooks/{id}`` are relayed with the
  PaymentIntent fields above filled and signed again with the endpoint's secret.

Usage: ``python3 localstripe_compat.py`` prints ``listening <port>`` once ready and serves
until stdin closes (its parent test process exits). ``--port N --forever`` serves on a fixed
port until killed, and ``--webhook-url URL --webhook-secret whsec_…`` sends webhooks there
(a development server's ``/webhooks/stripe``).
"""

import argparse

import asyncio
import hashlib
import hmac
import json
import re
import socket
import sys
import time
import urllib.parse

import aiohttp
from aiohttp import web

import localstripe.resources as resources
from localstripe import webhooks as localstripe_webhooks
from localstripe.resources import store
from localstripe.server import app as localstripe_app

# localstripe pickles its whole store to /tmp on every write: slow, and shared by every
# instance on the machine. The tests keep it in memory.
resources.Store.dump_to_disk = lambda self: None

IDEMPOTENT = {}  # (method, path, key) -> (params digest, status, body)
IDEMPOTENCY_LOCKS = {}
INTENTS = {}  # intent id -> {"return_url", "multicapture", "captured"}
WEBHOOKS = {}  # id -> (url, secret)
UPSTREAM = None
PUBLIC = None
SEARCH = re.compile(r"^metadata\['([A-Za-z0-9_]+)'\]:'([^'\\]*)'$")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def intent_state(intent_id):
    return INTENTS.setdefault(intent_id, {"return_url": None, "multicapture": False,
                                          "captured": 0})


def fill_intent(obj):
    """Adds the PaymentIntent fields localstripe leaves out."""
    state = intent_state(obj["id"])
    status = obj.get("status")
    charge = obj.get("latest_charge")
    if isinstance(charge, dict):
        obj["latest_charge"] = charge.get("id")
    obj.pop("charges", None)
    captured = state["captured"]
    if status == "succeeded":
        obj["amount_received"] = captured or obj["amount"]
    else:
        obj["amount_received"] = captured
    obj["amount_capturable"] = obj["amount"] - captured if status == "requires_capture" else 0
    error = obj.get("last_payment_error")
    if isinstance(error, dict) and "type" not in error:
        error["type"] = "card_error" if error.get("code") == "card_declined" else \
            "invalid_request_error"
    obj.setdefault("confirmation_method", "automatic")
    obj["payment_method_types"] = obj.get("payment_method_types") or ["card"]
    if status == "requires_action" and state["return_url"]:
        obj["next_action"] = {
            "type": "redirect_to_url",
            "redirect_to_url": {
                "url": f"{PUBLIC}/_compat/3ds/{obj['id']}",
                "return_url": state["return_url"],
            },
        }
    return obj


def fill(value):
    """Fills every PaymentIntent inside an answer."""
    if isinstance(value, list):
        return [fill(v) for v in value]
    if isinstance(value, dict):
        value = {k: fill(v) for k, v in value.items()}
        if value.get("object") == "payment_intent" and "id" in value:
            value = fill_intent(value)
        return value
    return value


def exported_intent(intent_id):
    return fill(resources.PaymentIntent._api_retrieve(intent_id)._export())


def stripe_error(status, kind, message, **extra):
    return web.json_response({"error": {"type": kind, "message": message, **extra}},
                             status=status)


async def forward(request, method, path, params):
    body = urllib.parse.urlencode(params) if method == "POST" else None
    query = "" if method == "POST" else "?" + urllib.parse.urlencode(params)
    headers = {"Authorization": request.headers.get("Authorization", "")}
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    async with aiohttp.ClientSession() as session:
        async with session.request(method, UPSTREAM + path + query, data=body,
                                   headers=headers) as answer:
            text = await answer.text()
            try:
                return answer.status, json.loads(text)
            except json.JSONDecodeError:
                return answer.status, {"error": {"type": "api_error", "message": text}}


def fix_decline(status, answer):
    """Stripe's 402: type card_error, the intent in the error."""
    error = answer.get("error") if isinstance(answer, dict) else None
    if status != 402 or not isinstance(error, dict):
        return answer
    error["type"] = "card_error"
    charge_id = error.get("charge")
    if charge_id:
        try:
            charge = resources.Charge._api_retrieve(charge_id)
            if charge.payment_intent:
                error["payment_intent"] = exported_intent(charge.payment_intent)
        except Exception:  # noqa: BLE001 - an error answer stays as localstripe gave it
            pass
    return answer


def search(kind, query):
    match = SEARCH.match(query or "")
    if not match:
        return None
    key, value = match.groups()
    found = [obj for name, obj in list(store.items())
             if name.startswith(kind + ":") and (obj.metadata or {}).get(key) == value]
    return [fill(obj._export()) for obj in reversed(found)]


async def handle_api(request):
    path = request.path
    method = request.method
    if method == "POST":
        raw = await request.text()
        params = urllib.parse.parse_qsl(raw, keep_blank_values=True)
    else:
        params = list(request.query.items())
    if not request.headers.get("Authorization", "").startswith("Bearer sk_"):
        return stripe_error(401, "invalid_request_error", "Invalid API Key provided")

    key = request.headers.get("Idempotency-Key") if method == "POST" else None
    if key is None:
        status, answer = await route(request, method, path, params)
        return web.json_response(answer, status=status)
    slot = (method, path, key)
    lock = IDEMPOTENCY_LOCKS.setdefault(slot, asyncio.Lock())
    async with lock:
        digest = hashlib.sha256(urllib.parse.urlencode(sorted(params)).encode()).hexdigest()
        if slot in IDEMPOTENT:
            seen, status, answer = IDEMPOTENT[slot]
            if seen != digest:
                return stripe_error(400, "idempotency_error",
                                    "Keys for idempotent requests can only be used with the "
                                    "same parameters they were first used with.")
            return web.json_response(answer, status=status,
                                     headers={"Idempotent-Replayed": "true"})
        status, answer = await route(request, method, path, params)
        # Stripe keeps the answer of every call that began executing, 5xx included; not those
        # refused before (validation, authentication, a concurrent call, a rate limit).
        if status not in (400, 401, 409, 429):
            IDEMPOTENT[slot] = (digest, status, answer)
        return web.json_response(answer, status=status)


async def route(request, method, path, params):
    searchable = {"/v1/payment_intents/search": "payment_intent",
                  "/v1/customers/search": "customer"}
    if method == "GET" and path in searchable:
        data = search(searchable[path], dict(params).get("query"))
        if data is None:
            return 400, {"error": {"type": "invalid_request_error",
                                   "message": "unsupported search query"}}
        return 200, {"object": "search_result", "data": data[:int(dict(params).get("limit", 10))],
                     "has_more": False, "next_page": None, "url": path}
    if method == "GET" and path == "/v1/payment_intents":
        args = dict(params)
        limit = int(args.get("limit", 10))
        intents = [obj for name, obj in list(store.items()) if name.startswith("payment_intent:")]
        newest = list(reversed(intents))
        if "starting_after" in args:
            ids = [obj.id for obj in newest]
            start = ids.index(args["starting_after"]) + 1 if args["starting_after"] in ids else 0
            newest = newest[start:]
        return 200, {"object": "list", "data": [fill(obj._export()) for obj in newest[:limit]],
                     "has_more": len(newest) > limit, "url": path}

    if method == "POST" and path == "/v1/payment_intents":
        return_url = None
        multicapture = False
        kept = []
        for name, value in params:
            if name == "return_url":
                return_url = value
            elif name == "payment_method_options[card][request_multicapture]":
                multicapture = value == "if_available"
            else:
                kept.append((name, value))
        status, answer = await forward(request, method, path, kept)
        intent_id = answer.get("id") if status == 200 else (
            ((answer.get("error") or {}).get("payment_intent") or {}).get("id"))
        if status == 402:
            charge = (answer.get("error") or {}).get("charge")
            if charge:
                intent_id = resources.Charge._api_retrieve(charge).payment_intent
        if intent_id:
            state = intent_state(intent_id)
            state["return_url"] = return_url
            state["multicapture"] = multicapture
            if status == 200:
                answer = exported_intent(intent_id)
        return status, fill(fix_decline(status, answer))

    capture = re.match(r"^/v1/payment_intents/(pi_[A-Za-z0-9]+)/capture$", path)
    if method == "POST" and capture:
        intent_id = capture.group(1)
        state = intent_state(intent_id)
        args = dict(params)
        final = args.pop("final_capture", "true") != "false"
        try:
            intent = resources.PaymentIntent._api_retrieve(intent_id)
        except Exception:  # noqa: BLE001
            return 404, {"error": {"type": "invalid_request_error", "message": "No such intent"}}
        amount = int(args.get("amount_to_capture", intent.amount - state["captured"]))
        if intent.status != "requires_capture" or amount <= 0 or \
                state["captured"] + amount > intent.amount:
            return 400, {"error": {"type": "invalid_request_error",
                                   "code": "payment_intent_unexpected_state",
                                   "message": "This PaymentIntent could not be captured."}}
        if not final:
            if not state["multicapture"]:
                return 400, {"error": {"type": "invalid_request_error",
                                       "message": "final_capture=false needs multicapture"}}
            state["captured"] += amount
            return 200, exported_intent(intent_id)
        total = state["captured"] + amount
        status, answer = await forward(request, method, path, [("amount_to_capture", str(total))])
        if status == 200:
            state["captured"] = total
        return status, fill(answer)

    status, answer = await forward(request, method, path, params)
    return status, fill(fix_decline(status, answer))


async def handle_3ds(request):
    """The page a customer is sent to for 3-D Secure: completes the challenge, then returns."""
    intent_id = request.match_info["intent"]
    try:
        intent = resources.PaymentIntent._api_retrieve(intent_id)
    except Exception:  # noqa: BLE001
        raise web.HTTPNotFound()
    if intent.status != "requires_action":
        raise web.HTTPConflict(text="no challenge is pending")
    resources.PaymentIntent._api_authenticate(intent_id, client_secret=intent.client_secret,
                                              success="fail" not in request.query)
    return_url = intent_state(intent_id)["return_url"] or "about:blank"
    separator = "&" if "?" in return_url else "?"
    raise web.HTTPFound(f"{return_url}{separator}payment_intent={intent_id}")


async def handle_config_webhook(request):
    data = await request.post()
    hook_id = request.match_info["id"]
    url, secret = data.get("url"), data.get("secret")
    if not url or not secret:
        raise web.HTTPBadRequest()
    WEBHOOKS[hook_id] = (url, secret)
    localstripe_webhooks.register_webhook(hook_id, f"{PUBLIC}/_compat/relay/{hook_id}", secret,
                                        None)
    return web.Response()


async def handle_relay(request):
    url, secret = WEBHOOKS[request.match_info["id"]]
    event = fill(json.loads(await request.read()))
    body = json.dumps(event).encode()
    stamp = int(time.time())
    signature = hmac.new(secret.encode(), b"%d." % stamp + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json",
               "Stripe-Signature": f"t={stamp},v1={signature}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=body, headers=headers) as answer:
            text = await answer.text()
            if answer.status >= 300:
                print(f"webhook {event.get('type')} to {url}: {answer.status} {text}",
                      file=sys.stderr, flush=True)
            return web.Response(status=answer.status, text=text)


async def main(args):
    global UPSTREAM, PUBLIC
    upstream_port = free_port()
    runner = web.AppRunner(localstripe_app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", upstream_port).start()
    UPSTREAM = f"http://127.0.0.1:{upstream_port}"

    proxy = web.Application(client_max_size=1 << 20)
    proxy.router.add_get("/_compat/3ds/{intent}", handle_3ds)
    proxy.router.add_post("/_config/webhooks/{id}", handle_config_webhook)
    proxy.router.add_post("/_compat/relay/{id}", handle_relay)
    proxy.router.add_route("*", "/v1/{tail:.*}", handle_api)
    proxy_runner = web.AppRunner(proxy)
    await proxy_runner.setup()
    site = web.TCPSite(proxy_runner, "127.0.0.1", args.port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    PUBLIC = f"http://127.0.0.1:{port}"
    if args.webhook_url:
        WEBHOOKS["obol"] = (args.webhook_url, args.webhook_secret)
        localstripe_webhooks.register_webhook("obol", f"{PUBLIC}/_compat/relay/obol",
                                              args.webhook_secret, None)
    print(f"listening {port}", flush=True)
    if args.forever:
        await asyncio.Event().wait()
    # Serve until the parent closes stdin (it exited or dropped its handle).
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="localstripe behind Obol's compatibility proxy")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--forever", action="store_true")
    parser.add_argument("--webhook-url")
    parser.add_argument("--webhook-secret")
    arguments = parser.parse_args()
    if bool(arguments.webhook_url) != bool(arguments.webhook_secret):
        parser.error("--webhook-url and --webhook-secret go together")
    asyncio.run(main(arguments))
