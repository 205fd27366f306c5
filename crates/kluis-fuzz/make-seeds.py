#!/usr/bin/env python3
"""Writes the seed inputs of every fuzz target into corpus-seeds/<target>/ (small, valid-looking
inputs, one file each, in the format each target's `//!` comment describes). Run it again after
changing a format: `python3 crates/kluis-fuzz/make-seeds.py`."""

import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus-seeds")
ISSUER = "urn:kluis:vault:fuzz"
NOW = 1_800_000_000
SHA = "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"  # base64url of 32 bytes
JKT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"  # RFC 8037's public key


def j(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def write(target, name, data):
    os.makedirs(os.path.join(OUT, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(OUT, target, name), "wb") as f:
        f.write(data)


GRANT = {
    "iss": ISSUER, "sub": "5f0c1e2d3c4b5a69", "aud": "webshop.example",
    "jti": "g_7m3kq2xw5vnh4rj6tb2yc6pe4a", "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 3600,
    "purpose": "order delivery", "purpose_category": "contract",
    "authorization_details": [
        {"type": "kluis_fields", "actions": ["read"], "fields": ["/profile/address", "/profile/email"]},
        {"type": "kluis_contact", "actions": ["contact"], "channels": ["inbox"], "topics": ["orders"]},
        {"type": "kluis_relationship", "actions": ["append"]},
    ],
    "cnf": {"jkt": JKT},
}
CONSENT = {
    "version": "KI-CR-v1.1.0", "jurisdiction": "NL", "consentTimestamp": NOW,
    "collectionMethod": "access request approved by the owner (kluis requests approve)",
    "consentReceiptID": "0c5e9d2a-7f41-4b8e-9a36-d2f07c1be845", "language": "en",
    "piiPrincipalId": "a3c91f0e7b2d4e6f8a1b3c5d7e9f0a2b",
    "piiControllers": [{
        "piiController": "De Webwinkel B.V.", "onBehalf": False, "contact": "Privacy Office",
        "address": "Keizersgracht 1, 1015 AA Amsterdam", "email": "privacy@webshop.example",
        "phone": "+31 20 123 4567",
    }],
    "policyUrl": ISSUER,
    "services": [{"service": "order delivery", "purposes": [{
        "purpose": "order delivery", "purposeCategory": ["contract"], "consentType": "EXPLICIT",
        "piiCategory": ["/profile/address"], "primaryPurpose": True,
        "termination": "access ends at 2027-01-15T08:00:00Z or when the owner revokes it",
        "thirdPartyDisclosure": False,
    }]}],
    "sensitive": False, "spiCat": [], "iss": ISSUER, "iat": NOW,
    "jti": "0c5e9d2a-7f41-4b8e-9a36-d2f07c1be845", "aud": "webshop.example",
    "grant_id": "g_7m3kq2xw5vnh4rj6tb2yc6pe4a",
}
DELIVERY = {
    "iss": ISSUER, "sub": "5f0c1e2d3c4b5a69", "aud": "webshop.example",
    "jti": "m_mfzwizltmfzwizltmfzwizltmf", "iat": NOW, "topic": "orders", "sha256": SHA,
    "in_reply_to": "m_ovzw25lsmfzxi3lsmfzxi3lsme",
}
ENTRY = {
    "iss": ISSUER, "sub": "5f0c1e2d3c4b5a69", "aud": "webshop.example",
    "jti": "e_mfzwizltmfzwizltmfzwizltmf", "iat": NOW, "kind": "promise", "sha256": SHA, "jkt": JKT,
}


def grant_token():
    t = "grant_token"
    # mode = kind + 4 * how: kind 0 grant, 1 consent, 2 delivery, 3 entry; how 1 = claims.
    for kind, claims in enumerate([GRANT, CONSENT, DELIVERY, ENTRY]):
        write(t, f"claims-{kind}", bytes([4 + kind]) + j(claims).encode())
    header = {"alg": "EdDSA", "typ": "application/kluis-grant+JWT", "kid": "unknown"}
    write(t, "header-payload", bytes([8]) + f"{j(header)}\n{j(GRANT)}".encode())
    rfc8037 = ("eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
               "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")
    write(t, "raw-rfc8037", bytes([0]) + rfc8037.encode())


def dpop():
    t = "dpop"
    htu = "https://vault.example/v1/fields"
    claims = {"jti": "cHJvb2YtMQ", "htm": "GET", "htu": htu + "?x=1", "iat": NOW,
              "ath": "PEaenWxYddN6Q_NT1PiOYfz4EsZu7jRXRlpAsNpBU-A"}
    write(t, "claims-token", bytes([1]) + f"GET\n{htu}\ntoken\n{j(claims)}".encode())
    del claims["ath"]
    write(t, "claims-no-token", bytes([4]) + f"POST\nHTTPS://Vault.Example/v1/inbox\n\n{j(claims)}".encode())
    header = {"alg": "EdDSA", "typ": "dpop+jwt", "jwk": {"kty": "OKP", "crv": "Ed25519", "x": X}}
    write(t, "header-payload", bytes([2]) + f"GET\n{htu}\n\n{j(header)}\n{j(claims)}".encode())
    write(t, "make", bytes([3]) + f"DELETE\n{htu}\nt\njti-1".encode())


def pointer_grant():
    t = "pointer_grant"
    doc = {"profile": {"email": "a@b.example", "address": {"street": "Dam 1"},
                       "a/b": 1, "m~n": [1, 2, {"x": True}]},
           "preferences": {"channels": ["email", "inbox"]}}
    write(t, "grant", "\n".join([j(doc), "/profile/email", "/profile/address", "/profile/a~1b",
                                 "--", "/profile", "/profile/m~0n/2/x", "/preferences/channels/0"]))
    write(t, "escapes", "\n".join(["{}", "/profile/~0~1", "/profile/-", "30d", "--", "/profile/~01"]))


def document():
    t = "document"
    doc = {"profile": {"name": {"given": "Anna", "family": "de Vries"}, "email": "anna@example.org",
                       "address": {"home": {"street": "Dam 1", "postal_code": "1012 JS",
                                            "city": "Amsterdam", "country": "NL"}}},
           "preferences": {"channels": ["email", "inbox"], "language": "nl",
                           "caps": [{"max": 3, "per": "week"}],
                           "quiet_hours": {"start": "21:00", "end": "08:00", "time_zone": "Europe/Amsterdam"}},
           "custom": {"shoe_size": 39, "notes": {}}}
    write(t, "bare", j(doc))
    export = {"kluis_export": 2, "document": doc, "relationships": {
        "format": "kluis-relationships/1",
        "records": [{"business": "shop.example", "created_ms": 1796119200000, "entries": [
            {"id": "e_mfzwizltmfzwizltmfzwizltmf", "at_ms": 1796119200000, "author": {"by": "owner"},
             "item": {"kind": "note", "text": "Ask for Anna"}},
            {"id": "e_ovzw25lsmfzxi3lsmfzxi3lsme", "at_ms": 1796119300000, "author": {"by": "owner"},
             "item": {"kind": "promise", "what": "Call back about the repair", "due_on": "2026-12-08"}},
        ]}]}}
    write(t, "export", j(export))
    write(t, "empty", "{}")


def bodies():
    t = "bodies"
    request = {"business": {"id": "webshop.example", "name": "De Webwinkel B.V.",
                            "contact": "privacy@webshop.example"},
               "jwk": {"kty": "OKP", "crv": "Ed25519", "x": X},
               "fields": ["/profile/email", "/profile/address"],
               "contact": {"channels": ["inbox"], "topics": ["orders"]}, "append_record": True,
               "purpose": "order delivery", "purpose_category": "contract", "duration_secs": 86400,
               "callback_url": "https://webshop.example/kluis/callback"}
    write(t, "access-request", bytes([0]) + j(request).encode())
    write(t, "subscription", bytes([1]) + j({"url": "https://webshop.example/hooks", "payload": "full"}).encode())
    write(t, "contact-check", bytes([2]) + j({"channel": "inbox", "topic": " orders ", "reserve": True}).encode())
    write(t, "inbox", bytes([3]) + j({"topic": "orders", "subject": "Your order has shipped",
                                      "body": "Hi Anna,\n\nit is on its way.\t\u00e9",
                                      "in_reply_to": "m_mfzwizltmfzwizltmfzwizltmf"}).encode())
    write(t, "entry-promise", bytes([4]) + j({"kind": "promise", "what": "Call back", "due_on": "2027-01-20"}).encode())
    write(t, "entry-document", bytes([4]) + j({"kind": "document", "title": "Invoice 1042",
                                               "body": {"total": "12.50"},
                                               "attachment": {"name": "invoice.txt", "media_type": "text/plain",
                                                              "data": "aGVsbG8="}}).encode())
    write(t, "entry-interaction", bytes([4]) + j({"kind": "interaction", "on": "2027-01-14",
                                                  "channel": "phone", "summary": "Asked about the bill"}).encode())


def webhook_signature():
    t = "webhook_signature"
    body = j({"type": "field.changed", "timestamp": "2027-01-15T08:00:00Z",
              "data": {"grant_id": "g_7m3kq2xw5vnh4rj6tb2yc6pe4a", "changed": ["/profile/email"]}})
    write(t, "signed", bytes([1]) + f"msg_2LUl9ZMvgL3Pj8e2\n{NOW}\n\n{body}".encode())
    write(t, "mixed", bytes([2]) + f"msg_1\n{NOW - 60}\nv1,AAAA v2,x\n{body}".encode())
    write(t, "given", bytes([0]) + f"msg_1\n{NOW}\nv1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1a,AAAA\n{body}".encode())
    write(t, "keys", bytes([3]) + b"msg_1\n1\nwhsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw whpk_AAAA\n{}")


def contact_policy():
    t = "contact_policy"
    prefs = {"channels": ["email", "inbox"], "topics": ["orders", "service"], "blocked_topics": ["ads"],
             "caps": [{"max": 2, "per": "day"}, {"max": 5, "per": "P7D", "scope": "all"},
                      {"max": 1, "per": "week", "channel": "inbox", "topic": "service"}],
             "quiet_hours": {"start": "22:00", "end": "07:30", "time_zone": "Europe/Amsterdam"},
             "businesses": {"shop.example": {"caps": [{"max": 1, "per": "PT12H"}]},
                            "bank.example": {"do_not_contact": True}}}
    asks = [[NOW, "shop.example", "inbox", "orders", 4, 3600],
            [NOW + 100, "other.example", "email", "orders", 8, 7200],
            [NOW + 200, "bank.example", "inbox", "orders"],
            [NOW + 300, "other.example", "inbox", "ads"],
            [1_801_010_000, "other.example", "inbox", "service", 3, 600]]
    write(t, "policy", j({"preferences": prefs, "asks": asks}))
    write(t, "dst", j({"preferences": {"quiet_hours": {"start": "02:30", "end": "03:15", "time_zone": "Europe/Amsterdam"},
                                       "time_zone": "America/New_York", "caps": [{"max": 1, "per": "month"}]},
                       "right": {"channels": ["inbox", "sms"], "topics": ["orders"]},
                       "asks": [[1_774_744_200, "shop.example", "inbox", "orders", 10, 600]]}))


if __name__ == "__main__":
    shutil.rmtree(OUT, ignore_errors=True)
    for make in [grant_token, dpop, pointer_grant, document, bodies, webhook_signature, contact_policy]:
        make()
