"""DNS-01 providers against real servers: BIND 9 (RFC 2136 + TSIG), real programs, a real web service."""

from __future__ import annotations

import asyncio
import shutil
import stat
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.acme.bind import Bind
from tests.conftest import free_port
from traefikpy.acme.dns import (
    DNSChallengeError,
    DNSProvider,
    authoritative_nameservers,
    challenge_record,
    cleanup_challenge,
    dns_provider,
    present_challenge,
    system_nameservers,
    wait_propagation,
)
from traefikpy.acme.dns.exec import ExecProvider
from traefikpy.acme.dns.httpreq import HTTPReqProvider
from traefikpy.acme.dns.rfc2136 import RFC2136Provider, read_tsig_file

DOMAIN = "app.example.test"
ACME_AUTH = "Basic YWNtZTpzM2NyZXQ="  # basic auth of acme:s3cret


@pytest.fixture(scope="module")
def bind() -> Iterator[Bind]:
    with Bind.start() as server:
        yield server


def record(key_auth: str) -> tuple[str, str]:
    return challenge_record(DOMAIN, key_auth)


# --- configuration -----------------------------------------------------------------------------


def test_challenge_record_is_lego_convention() -> None:
    # printf 'tok.thumb' | openssl dgst -sha256 -binary | basenc --base64url  (padding dropped)
    assert challenge_record("foo.example.test", "tok.thumb") == (
        "_acme-challenge.foo.example.test.", "sYAwVrqDtVOuJZvAHurSAYPoEt5fFV_C4bdSOOW-o5Y")
    assert challenge_record("*.example.test", "x")[0] == "_acme-challenge.example.test."


def test_unknown_provider_and_missing_variables_are_clear() -> None:
    with pytest.raises(ValueError, match=r"unknown DNS challenge provider 'route53'.*exec, httpreq, rfc2136"):
        dns_provider("route53", {})
    with pytest.raises(ValueError, match="rfc2136: .*missing: RFC2136_NAMESERVER"):
        dns_provider("rfc2136", {})
    with pytest.raises(ValueError, match="exec: .*missing: EXEC_PATH"):
        dns_provider("exec", {})
    with pytest.raises(ValueError, match="httpreq: .*missing: HTTPREQ_ENDPOINT"):
        dns_provider("httpreq", {})
    with pytest.raises(ValueError, match="unsupported TSIG algorithm 'hmac-sha3'"):
        dns_provider("rfc2136", {"RFC2136_NAMESERVER": "127.0.0.1", "RFC2136_TSIG_KEY": "k",
                                 "RFC2136_TSIG_SECRET": "c2VjcmV0", "RFC2136_TSIG_ALGORITHM": "hmac-sha3"})
    with pytest.raises(ValueError, match="RFC2136_TSIG_SECRET is not valid base64"):
        dns_provider("rfc2136", {"RFC2136_NAMESERVER": "127.0.0.1", "RFC2136_TSIG_KEY": "k",
                                 "RFC2136_TSIG_SECRET": "not base64!"})
    with pytest.raises(ValueError, match="RFC2136_TSIG_KEY is set but RFC2136_TSIG_SECRET is not"):
        dns_provider("rfc2136", {"RFC2136_NAMESERVER": "127.0.0.1", "RFC2136_TSIG_KEY": "k"})
    with pytest.raises(ValueError, match="RFC2136_PROPAGATION_TIMEOUT: invalid duration"):
        dns_provider("rfc2136", {"RFC2136_NAMESERVER": "127.0.0.1", "RFC2136_PROPAGATION_TIMEOUT": "soon"})
    with pytest.raises(ValueError, match="HTTPREQ_ENDPOINT must be an http"):
        dns_provider("httpreq", {"HTTPREQ_ENDPOINT": "localhost:9090"})


def test_defaults_and_overrides_follow_lego(tmp_path: Path) -> None:
    p = dns_provider("rfc2136", {"RFC2136_NAMESERVER": "127.0.0.1"})
    assert isinstance(p, RFC2136Provider) and isinstance(p, DNSProvider)
    assert (p.nameserver, p.ttl, p.propagation_timeout, p.polling_interval) == ("127.0.0.1:53", 120, 60.0, 2.0)
    assert (p.sequence_interval, p.dns_timeout, p.keyring) == (60.0, 10.0, None)
    assert p.algorithm.to_text() == "HMAC-MD5.SIG-ALG.REG.INT."  # lego's default
    secret_file = tmp_path / "secret"
    secret_file.write_text("c2VjcmV0c2VjcmV0\n")
    p = dns_provider("rfc2136", {
        "RFC2136_NAMESERVER": "ns.example.test:5353", "RFC2136_TSIG_KEY": "Key.Example",
        "RFC2136_TSIG_SECRET_FILE": str(secret_file), "RFC2136_TSIG_ALGORITHM": "hmac-sha256",
        "RFC2136_TTL": "30", "RFC2136_PROPAGATION_TIMEOUT": "2m", "RFC2136_POLLING_INTERVAL": "5",
        "RFC2136_DNS_TIMEOUT": "1500ms"})
    assert isinstance(p, RFC2136Provider)
    assert (p.nameserver, p.ttl, p.propagation_timeout, p.polling_interval, p.dns_timeout) == (
        "ns.example.test:5353", 30, 120.0, 5.0, 1.5)
    assert p.keyname is not None and p.keyname.to_text() == "key.example."
    assert p.algorithm.to_text() == "hmac-sha256."
    e = dns_provider("exec", {"EXEC_PATH": "/bin/true", "EXEC_PROPAGATION_TIMEOUT": "7", "EXEC_POLLING_INTERVAL": "1"})
    assert (e.propagation_timeout, e.polling_interval) == (7.0, 1.0)
    h = dns_provider("httpreq", {"HTTPREQ_ENDPOINT": "http://127.0.0.1:1", "HTTPREQ_HTTP_TIMEOUT": "3"})
    assert isinstance(h, HTTPReqProvider) and h.http_timeout == 3.0 and h.headers == {}


# --- rfc2136 against BIND ------------------------------------------------------------------------


async def test_rfc2136_present_is_served_by_bind_and_cleanup_removes_it(bind: Bind) -> None:
    provider = dns_provider("rfc2136", bind.env(RFC2136_TTL="42"))
    fqdn, value = record("present-cleanup")
    assert bind.txt(fqdn) == []
    await provider.present(DOMAIN, fqdn, value)
    response = bind.query(fqdn, "TXT")
    assert [b"".join(r.strings).decode() for rrset in response.answer for r in rrset] == [value]
    assert response.answer[0].ttl == 42
    await provider.cleanup(DOMAIN, fqdn, value)
    assert bind.txt(fqdn) == []
    assert "updating zone 'example.test/IN': adding an RR" in bind.log()


async def test_rfc2136_apex_and_wildcard_values_coexist(bind: Bind) -> None:
    """An order for example.test and *.example.test publishes two values under one name."""
    provider = dns_provider("rfc2136", bind.env())
    fqdn1, apex = challenge_record("example.test", "apex")
    fqdn2, wild = challenge_record("*.example.test", "wildcard")
    assert fqdn1 == fqdn2 == "_acme-challenge.example.test."
    await asyncio.gather(provider.present("example.test", fqdn1, apex),
                         provider.present("*.example.test", fqdn2, wild))
    assert sorted(bind.txt(fqdn1)) == sorted([apex, wild])
    await provider.cleanup("example.test", fqdn1, apex)
    assert bind.txt(fqdn1) == [wild]
    await provider.cleanup("*.example.test", fqdn2, wild)
    assert bind.txt(fqdn1) == []


async def test_rfc2136_finds_the_zone_from_a_deep_name(bind: Bind) -> None:
    provider = dns_provider("rfc2136", bind.env())
    fqdn, value = challenge_record("a.b.c.example.test", "deep")
    await provider.present("a.b.c.example.test", fqdn, value)
    assert bind.txt(fqdn) == [value]
    await provider.cleanup("a.b.c.example.test", fqdn, value)
    assert bind.txt(fqdn) == []


async def test_rfc2136_follows_a_delegating_cname(bind: Bind, tmp_path: Path) -> None:
    """_acme-challenge.alias CNAME → _acme-challenge.target: the TXT goes to the target (lego's
    CNAME support), and the propagation check of the original name sees it through the CNAME."""
    nsupdate = subprocess.run(
        ["nsupdate", "-y", f"hmac-sha256:{bind.key_name}:{bind.key_secret}"],
        input=f"server 127.0.0.1 {bind.port}\nupdate add _acme-challenge.alias.example.test. 60 CNAME "
              "_acme-challenge.target.example.test.\nsend\n",
        capture_output=True, text=True, timeout=10)
    assert nsupdate.returncode == 0, nsupdate.stderr
    provider = dns_provider("rfc2136", bind.env())
    fqdn, value = challenge_record("alias.example.test", "cname")
    await provider.present("alias.example.test", fqdn, value)
    assert bind.txt("_acme-challenge.target.example.test.") == [value]
    await wait_propagation(fqdn, value, [bind.address], timeout=2, interval=0.1)
    await provider.cleanup("alias.example.test", fqdn, value)
    assert bind.txt("_acme-challenge.target.example.test.") == []
    no_follow = dns_provider("rfc2136", bind.env(LEGO_DISABLE_CNAME_SUPPORT="true"))
    await no_follow.present("alias.example.test", fqdn, value)  # BIND ignores a TXT next to a CNAME (RFC 2136 §3.4.2.2)
    assert bind.txt("_acme-challenge.target.example.test.") == []
    with pytest.raises(TimeoutError):
        await wait_propagation(fqdn, value, [bind.address], timeout=0.3, interval=0.1)


async def test_rfc2136_wrong_secret_unknown_key_and_no_rights_are_clear_errors(bind: Bind) -> None:
    fqdn, value = record("errors")
    wrong = dns_provider("rfc2136", bind.env(RFC2136_TSIG_SECRET="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="))
    with pytest.raises(DNSChallengeError, match=r"rfc2136: failed to insert .*rejected the TSIG signature.*BADSIG.*RFC2136_TSIG_SECRET"):
        await wrong.present(DOMAIN, fqdn, value)
    unknown = dns_provider("rfc2136", bind.env(RFC2136_TSIG_KEY="nobody."))
    with pytest.raises(DNSChallengeError, match=r"does not know the TSIG key nobody\. \(BADKEY\)"):
        await unknown.present(DOMAIN, fqdn, value)
    wrong_algorithm = dns_provider("rfc2136", bind.env(RFC2136_TSIG_ALGORITHM="hmac-sha512."))
    with pytest.raises(DNSChallengeError, match="TSIG"):
        await wrong_algorithm.present(DOMAIN, fqdn, value)
    no_rights = dns_provider("rfc2136", bind.env(RFC2136_TSIG_KEY=bind.other_key_name,
                                                 RFC2136_TSIG_SECRET=bind.other_key_secret))
    with pytest.raises(DNSChallengeError, match=r"server replied: REFUSED \(does the zone allow updates with this key\?\)"):
        await no_rights.present(DOMAIN, fqdn, value)
    unsigned = dns_provider("rfc2136", {"RFC2136_NAMESERVER": bind.address})
    with pytest.raises(DNSChallengeError, match=r"REFUSED \(the server may require a TSIG key\)"):
        await unsigned.present(DOMAIN, fqdn, value)
    assert bind.txt(fqdn) == []  # nothing got through


async def test_rfc2136_zone_not_served_and_unreachable_server(bind: Bind) -> None:
    provider = dns_provider("rfc2136", bind.env())
    fqdn, value = challenge_record("www.elsewhere.test", "x")
    with pytest.raises(DNSChallengeError, match=r"could not find the zone for _acme-challenge\.www\.elsewhere\.test\..*REFUSED"):
        await provider.present("www.elsewhere.test", fqdn, value)
    dead = dns_provider("rfc2136", bind.env(RFC2136_NAMESERVER=f"127.0.0.1:{free_port()}", RFC2136_DNS_TIMEOUT="0.5"))
    started = time.monotonic()
    with pytest.raises(DNSChallengeError, match=r"could not find the zone"):
        await dead.present(DOMAIN, *record("x"))
    assert time.monotonic() - started < 3


async def test_rfc2136_tsig_file_and_hmac_md5_default() -> None:
    """A BIND key file (tsig-keygen format) and lego's default algorithm, hmac-md5, on a second BIND."""
    with Bind.start(key_algorithm="hmac-md5") as md5:
        env = md5.env()
        del env["RFC2136_TSIG_ALGORITHM"]
        fqdn, value = record("md5")
        await dns_provider("rfc2136", env).present(DOMAIN, fqdn, value)
        assert md5.txt(fqdn) == [value]
        key_file = md5.workdir / "update.key"
        key_file.write_text(f'# from tsig-keygen\nkey "{md5.key_name}" {{\n\talgorithm hmac-md5;\n'
                            f'\tsecret "{md5.key_secret}";\n}};\n')
        from_file = dns_provider("rfc2136", {"RFC2136_NAMESERVER": md5.address, "RFC2136_TSIG_FILE": str(key_file)})
        await from_file.cleanup(DOMAIN, fqdn, value)
        assert md5.txt(fqdn) == []


def test_rfc2136_tsig_file_secret_with_slashes_and_comments(tmp_path: Path) -> None:
    """Base64 secrets may contain "//" or "#": only comments outside quoted strings are dropped."""
    key_file = tmp_path / "update.key"
    key_file.write_text('/* made by hand */\nkey "upd." { // the update key\n  algorithm hmac-sha256; # sha\n'
                        '  secret "ab//cd#ef+/gh==";\n};\n')
    assert read_tsig_file(str(key_file)) == ("upd.", "hmac-sha256", "ab//cd#ef+/gh==")


def test_bind_refuses_names_outside_its_zone_quickly(bind: Bind) -> None:
    """pebble's -dnsserver can point at this fixture: foreign names are REFUSED, zone names resolve."""
    started = time.monotonic()
    assert bind.rcode("www.example.com") == "REFUSED"
    assert time.monotonic() - started < 1.0
    answer = bind.query("anything.example.test", "A").answer
    assert [r.address for rrset in answer for r in rrset] == ["127.0.0.1"]


# --- wait_propagation -------------------------------------------------------------------------


async def test_wait_propagation_returns_once_bind_serves_the_value(bind: Bind) -> None:
    provider = dns_provider("rfc2136", bind.env())
    fqdn, value = record("propagation")

    async def later() -> None:
        await asyncio.sleep(0.5)
        await provider.present(DOMAIN, fqdn, value)

    task = asyncio.create_task(later())
    started = time.monotonic()
    await wait_propagation(fqdn, value, [bind.address], timeout=10, interval=0.1)
    elapsed = time.monotonic() - started
    await task
    assert 0.4 < elapsed < 3.0
    await provider.cleanup(DOMAIN, fqdn, value)


async def test_wait_propagation_times_out_naming_what_is_missing(bind: Bind) -> None:
    fqdn, value = record("never")
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=rf"time limit exceeded \(0.6s\).*{bind.address}: NOERROR, no TXT record"):
        await wait_propagation(fqdn, value, [bind.address], timeout=0.6, interval=0.1)
    assert 0.6 <= time.monotonic() - started < 2.5


async def test_wait_propagation_needs_every_nameserver(bind: Bind) -> None:
    provider = dns_provider("rfc2136", bind.env())
    fqdn, value = record("all-servers")
    await provider.present(DOMAIN, fqdn, value)
    dead = f"127.0.0.1:{free_port()}"
    with pytest.raises(TimeoutError, match=rf"not served by {dead}: "):
        await wait_propagation(fqdn, value, [bind.address, dead], timeout=0.8, interval=0.2)
    await provider.cleanup(DOMAIN, fqdn, value)


async def test_authoritative_nameservers_of_the_zone(bind: Bind) -> None:
    """lego checks propagation on the zone's own nameservers: NS ns1.example.test. → 127.0.0.1."""
    fqdn, value = record("authoritative")
    assert await authoritative_nameservers(fqdn, [bind.address]) == ["127.0.0.1:53"]
    servers = await authoritative_nameservers(fqdn, [bind.address], port=bind.port)
    assert servers == [bind.address]
    provider = dns_provider("rfc2136", bind.env())
    await provider.present(DOMAIN, fqdn, value)
    await wait_propagation(fqdn, value, servers, timeout=2, interval=0.1)
    await provider.cleanup(DOMAIN, fqdn, value)
    with pytest.raises(DNSChallengeError, match="could not find the zone"):
        await authoritative_nameservers("_acme-challenge.www.example.com.", [bind.address])


def test_system_nameservers_reads_resolv_conf(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("search example.test\nnameserver 192.0.2.1\nnameserver 2001:db8::1\n")
    assert system_nameservers(str(conf)) == ["192.0.2.1:53", "[2001:db8::1]:53"]
    assert system_nameservers(str(tmp_path / "missing")) == []


# --- exec ---------------------------------------------------------------------------------------


def script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


async def test_exec_program_updates_bind_with_nsupdate(bind: Bind, tmp_path: Path) -> None:
    """The usual exec setup: a shell script driving nsupdate; the record is then served by BIND."""
    prog = script(tmp_path, "dns.sh", f"""set -e
echo "$1 $2 $3"
case "$1" in present) op=add;; cleanup) op=delete;; *) exit 2;; esac
nsupdate -y hmac-sha256:{bind.key_name}:{bind.key_secret} <<EOF
server 127.0.0.1 {bind.port}
update $op $2 60 TXT "$3"
send
EOF
""")
    provider = dns_provider("exec", {"EXEC_PATH": str(prog), "EXEC_PROPAGATION_TIMEOUT": "5", "EXEC_POLLING_INTERVAL": "0.1"})
    fqdn, value = record("exec")
    await provider.present(DOMAIN, fqdn, value)
    await wait_propagation(fqdn, value, [bind.address], provider.propagation_timeout, provider.polling_interval)
    assert bind.txt(fqdn) == [value]
    await provider.cleanup(DOMAIN, fqdn, value)
    assert bind.txt(fqdn) == []


async def test_exec_arguments_default_and_raw_mode(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    prog = script(tmp_path, "record.sh", f'printf "%s|" "$@" >> {calls}; echo >> {calls}\n')
    provider = dns_provider("exec", {"EXEC_PATH": str(prog)})
    fqdn, value = record("ka")
    await provider.present(DOMAIN, fqdn, value)
    await provider.cleanup(DOMAIN, fqdn, value)
    raw = dns_provider("exec", {"EXEC_PATH": str(prog), "EXEC_MODE": "RAW"})
    with pytest.raises(DNSChallengeError, match="EXEC_MODE=RAW needs the challenge token"):
        await raw.present(DOMAIN, fqdn, value)
    assert await present_challenge(raw, DOMAIN, "-tok", "-tok.thumb") == challenge_record(DOMAIN, "-tok.thumb")
    await cleanup_challenge(raw, DOMAIN, "-tok", "-tok.thumb")
    assert calls.read_text().splitlines() == [
        f"present|{fqdn}|{value}|",
        f"cleanup|{fqdn}|{value}|",
        f"present|--|{DOMAIN}|-tok|-tok.thumb|",
        f"cleanup|--|{DOMAIN}|-tok|-tok.thumb|",
    ]


async def test_exec_failures_are_reported(tmp_path: Path) -> None:
    failing = script(tmp_path, "fail.sh", 'echo "zone locked" >&2; exit 3\n')
    with pytest.raises(DNSChallengeError, match=r"exec: .*fail\.sh present exited with status 3: zone locked"):
        await dns_provider("exec", {"EXEC_PATH": str(failing)}).present(DOMAIN, *record("f"))
    with pytest.raises(DNSChallengeError, match=r"exec: start command '/nonexistent/prog': No such file"):
        await dns_provider("exec", {"EXEC_PATH": "/nonexistent/prog"}).present(DOMAIN, *record("f"))
    slow = ExecProvider(str(script(tmp_path, "slow.sh", "exec sleep 30\n")), program_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(DNSChallengeError, match=r"still running after 0.5s: killed"):
        await slow.present(DOMAIN, *record("s"))
    assert time.monotonic() - started < 3


# --- httpreq ------------------------------------------------------------------------------------


class Webhook:
    """A user's DNS web service: records requests, checks basic auth, and updates BIND."""

    def __init__(self, bind: Bind | None) -> None:
        self.requests: list[tuple[str, dict[str, Any], str | None]] = []
        self.status = 200
        self.dns = RFC2136Provider(bind.address, tsig_key=bind.key_name, tsig_secret=bind.key_secret,
                                   tsig_algorithm="hmac-sha256") if bind else None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((request.path, body, request.headers.get("Authorization")))
        if self.status != 200:
            return web.Response(status=self.status, text="backend exploded")
        if request.headers.get("Authorization") not in (None, ACME_AUTH):
            return web.Response(status=401, text="bad credentials")
        if self.dns is not None and "fqdn" in body:
            action = self.dns.present if request.path.endswith("/present") else self.dns.cleanup
            await action("", body["fqdn"], body["value"])
        return web.Response(text="ok")


@pytest.fixture
async def webhook(bind: Bind) -> AsyncIterator[tuple[Webhook, str]]:
    hook = Webhook(bind)
    app = web.Application()
    app.router.add_post("/api/{action}", hook.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield hook, f"http://127.0.0.1:{port}/api"
    finally:
        await runner.cleanup()


async def test_httpreq_json_posts_and_the_record_is_served(bind: Bind, webhook: tuple[Webhook, str]) -> None:
    hook, endpoint = webhook
    provider = dns_provider("httpreq", {"HTTPREQ_ENDPOINT": endpoint, "HTTPREQ_USERNAME": "acme", "HTTPREQ_PASSWORD": "s3cret"})
    fqdn, value = record("httpreq")
    await provider.present(DOMAIN, fqdn, value)
    await wait_propagation(fqdn, value, [bind.address], 5, 0.1)
    await provider.cleanup(DOMAIN, fqdn, value)
    assert bind.txt(fqdn) == []
    assert hook.requests == [("/api/present", {"fqdn": fqdn, "value": value}, ACME_AUTH),
                             ("/api/cleanup", {"fqdn": fqdn, "value": value}, ACME_AUTH)]


async def test_httpreq_raw_mode_auth_and_errors(webhook: tuple[Webhook, str]) -> None:
    hook, endpoint = webhook
    raw = dns_provider("httpreq", {"HTTPREQ_ENDPOINT": endpoint + "/", "HTTPREQ_MODE": "RAW"})
    await present_challenge(raw, DOMAIN, "tok", "tok.thumb")
    assert hook.requests[-1] == ("/api/present", {"domain": DOMAIN, "token": "tok", "keyAuth": "tok.thumb"}, None)
    # Only the username: lego sends no credentials at all.
    await dns_provider("httpreq", {"HTTPREQ_ENDPOINT": endpoint, "HTTPREQ_USERNAME": "acme"}).cleanup(DOMAIN, *record("a"))
    assert hook.requests[-1][2] is None
    wrong = dns_provider("httpreq", {"HTTPREQ_ENDPOINT": endpoint, "HTTPREQ_USERNAME": "acme", "HTTPREQ_PASSWORD": "nope"})
    with pytest.raises(DNSChallengeError, match=r"httpreq: POST http://127\.0\.0\.1:\d+/api/present: 401: request failed: bad credentials"):
        await wrong.present(DOMAIN, *record("a"))
    hook.status = 500
    with pytest.raises(DNSChallengeError, match=r"500: request failed: backend exploded"):
        await dns_provider("httpreq", {"HTTPREQ_ENDPOINT": endpoint}).present(DOMAIN, *record("a"))
    closed = dns_provider("httpreq", {"HTTPREQ_ENDPOINT": f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(DNSChallengeError, match=r"httpreq: POST http://127\.0\.0\.1:\d+/present: .*Connect"):
        await closed.present(DOMAIN, *record("a"))



# --- a real CA validating through this BIND -------------------------------------------------------


@pytest.mark.skipif(shutil.which("pebble") is None, reason="Debian's pebble is not installed")
async def test_pebble_validates_apex_and_wildcard_through_bind(bind: Bind) -> None:
    """pebble (-dnsserver = this BIND) issues example.test + *.example.test over DNS-01 with the
    rfc2136 provider: both values of the shared name are published at once, as the CA expects."""
    from acme import challenges, client, crypto_util, messages
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from josepy import JWKRSA

    from tests.acme.pebble import Pebble

    peb = Pebble.start(dns_server=bind.address)
    try:
        account = JWKRSA(key=rsa.generate_private_key(65537, 2048))
        net = client.ClientNetwork(account, user_agent="traefikpy-test", verify_ssl=str(peb.ca_file))
        acme = client.ClientV2(await asyncio.to_thread(client.ClientV2.get_directory, peb.directory, net), net)
        await asyncio.to_thread(acme.new_account, messages.NewRegistration.from_data(terms_of_service_agreed=True))
        key_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        order = await asyncio.to_thread(acme.new_order, crypto_util.make_csr(key_pem, ["example.test", "*.example.test"]))
        provider = dns_provider("rfc2136", bind.env())
        solved = []
        for authz in order.authorizations:
            chall = next(c for c in authz.body.challenges if isinstance(c.chall, challenges.DNS01))
            domain, key_auth = authz.body.identifier.value, chall.chall.key_authorization(account)
            fqdn, value = await present_challenge(provider, domain, chall.chall.encode("token"), key_auth)
            await wait_propagation(fqdn, value, [bind.address], provider.propagation_timeout, provider.polling_interval)
            solved.append((domain, chall, key_auth))
        assert len(bind.txt("_acme-challenge.example.test.")) == 2
        for _, chall, _ in solved:
            await asyncio.to_thread(acme.answer_challenge, chall, chall.response(account))
        final = await asyncio.to_thread(acme.poll_and_finalize, order)
        assert final.fullchain_pem.count("BEGIN CERTIFICATE") >= 2
        for domain, chall, key_auth in solved:
            await cleanup_challenge(provider, domain, chall.chall.encode("token"), key_auth)
        assert bind.txt("_acme-challenge.example.test.") == []
    finally:
        peb.stop()
        shutil.rmtree(peb.workdir, ignore_errors=True)
