"""Uses a client generated from the served description by openapi-python-client against a real
vault (tests/openapi/run.sh makes both). Every operation is called as a business would, and
every answer is checked; the first that is wrong ends the run with a non-zero exit.

usage: client_check.py BASE_URL TOKEN_FILE EMAIL
"""

import datetime
import sys

from kluis_client import AuthenticatedClient, Client
from kluis_client.api.access_requests import create_request, request_status
from kluis_client.api.contact import check, deliver
from kluis_client.api.grant_api import introspect, read_data
from kluis_client.api.keys import jwks
from kluis_client.api.meta import healthz
from kluis_client.api.notifications import create, list_, remove, rotate
from kluis_client.api.relationship import append
from kluis_client.models import (
    AccessRequestBody,
    BusinessInfo,
    ContactCheck,
    InboxPost,
    IntrospectionForm,
    Jwk,
    NewSubscription,
    PromiseEntry,
    Problem,
)
from kluis_client.models.jwk_crv import JwkCrv
from kluis_client.models.jwk_kty import JwkKty
from kluis_client.models.promise_entry_kind import PromiseEntryKind


def expect(what, condition, answer=None):
    if not condition:
        shown = f": {answer.status_code} {answer.content[:300]!r}" if answer is not None else ""
        sys.exit(f"client check failed: {what}{shown}")
    print(f"ok: {what}")


def main(base, token_file, email):
    token = open(token_file).read().strip()
    public = Client(base_url=base)
    business = AuthenticatedClient(base_url=base, token=token)

    expect("healthz answers ok", healthz.sync(client=public).status == "ok")
    keys = jwks.sync(client=public)
    expect("the JWKS holds an Ed25519 key", keys.keys and keys.keys[0].crv == JwkCrv.ED25519)

    data = read_data.sync_detailed(client=business)
    expect("a read answers 200", data.status_code == 200)
    expect("the read holds the e-mail", data.parsed["profile"]["email"] == email)
    narrowed = read_data.sync(client=business, fields="/profile/email")
    expect("a narrowed read holds only the e-mail", narrowed.to_dict() == {"profile": {"email": email}})
    outside = read_data.sync_detailed(client=business, fields="/profile/birthdate")
    expect("a field outside the grant is 403", outside.status_code == 403 and isinstance(outside.parsed, Problem))
    anonymous = read_data.sync_detailed(client=AuthenticatedClient(base_url=base, token="not-a-token"))
    expect("a bad token is 401", anonymous.status_code == 401)

    active = introspect.sync(client=business, body=IntrospectionForm(token=token))
    expect("introspection says the token is active", active.active and active.aud == "webshop.example")
    inactive = introspect.sync(client=business, body=IntrospectionForm(token="x.y.z"))
    expect("introspection says junk is inactive", inactive.active is False)

    asked = create_request.sync_detailed(
        client=public,
        body=AccessRequestBody(
            business=BusinessInfo(
                id="bakery.example",
                name="Bakker Bart",
                contact="Bart",
                email="bart@bakery.example",
                address="Dorpsstraat 1, 1234 AB Ergens",
                phone="+31 20 765 4321",
            ),
            jwk=Jwk(kty=JwkKty.OKP, crv=JwkCrv.ED25519, x="11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
            fields=["/profile/given_name"],
            purpose="birthday cake",
        ),
    )
    expect("an access request is taken (202)", asked.status_code == 202, asked)
    expect("it is pending", asked.parsed.status == "pending")
    status = request_status.sync(asked.parsed.id, client=public)
    expect("the request can be polled", status.id == asked.parsed.id and status.status == "pending")
    missing = request_status.sync_detailed("r_" + "a" * 26, client=public)
    expect("an unknown request is 404", missing.status_code == 404)

    allowed = check.sync(client=business, body=ContactCheck(channel="email", topic="orders"))
    expect("the contact check allows e-mail about orders", allowed.allowed is True)
    refused = check.sync(client=business, body=ContactCheck(channel="sms", topic="orders"))
    expect("the contact check refuses sms", refused.allowed is False)

    delivered = deliver.sync_detailed(
        client=business, body=InboxPost(topic="orders", subject="Shipped", body="Your order is on its way.")
    )
    expect("an inbox message is delivered (201)", delivered.status_code == 201, delivered)
    expect("its id is a message id", delivered.parsed.id.startswith("m_"))

    tomorrow = datetime.date.today() + datetime.timedelta(days=7)
    stored = append.sync_detailed(
        client=business, body=PromiseEntry(kind=PromiseEntryKind.PROMISE, what="deliver by Friday", due_on=tomorrow)
    )
    expect("a promise is added to the record (201)", stored.status_code == 201, stored)
    expect("its id is an entry id", stored.parsed.id.startswith("e_"))

    created = create.sync_detailed(client=business, body=NewSubscription(url="https://receiver.example/hooks"))
    expect("a subscription is made (201)", created.status_code == 201, created)
    expect("its secret is shown", created.parsed.secret.startswith("whsec_"))
    listed = list_.sync(client=business)
    expect("the subscription is listed", any(s.id == created.parsed.id for s in listed))
    rotated = rotate.sync(created.parsed.id, client=business)
    expect("its secret rotates", rotated.secret.startswith("whsec_") and rotated.secret != created.parsed.secret)
    removed = remove.sync_detailed(created.parsed.id, client=business)
    expect("it is removed (204)", removed.status_code == 204)
    expect("and no longer listed", not any(s.id == created.parsed.id for s in list_.sync(client=business)))


if __name__ == "__main__":
    main(*sys.argv[1:4])
