"""The environment's proxy settings still decide how SendGrid and Twilio are reached, as the vendors'
libraries decided per request, but are read once, when the channel is built (issue #15: reading
them per send was a tenth of a message's CPU). A scripted loopback peer plays the proxy: a request
it records with the vendor's Host header went through it."""

from __future__ import annotations

import json

import pytest
from requests.utils import select_proxy

from channels.rendering import render
from channels.sendgrid_email import SendGridEmailChannel
from channels.twilio_sms import TwilioSmsChannel
from domain.models import ChannelKind
from tests.peers.peers import RecordingPeer, ScriptedResponse, free_port

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
SENDGRID_HOST = "sendgrid.invalid"  # never resolved: reached only through the proxy
TWILIO_HOST = "twilio.invalid"
TEXT_CREATED = ScriptedResponse(
    201, json.dumps({"sid": "SM" + "0" * 32, "status": "queued"}).encode(), {"Content-Type": "application/json"}
)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy settings but the ones a test sets (the machine running the tests may have some)."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def sendgrid(host: str) -> SendGridEmailChannel:
    return SendGridEmailChannel("SG.test-key.not-real", email_from="complaints@iss.example.com", host=host, timeout=10)


def twilio(base_url: str | None) -> TwilioSmsChannel:
    return TwilioSmsChannel("AC" + "0" * 32, "token-not-real", from_number="+447700900001", base_url=base_url)


def send(channel, request):
    return channel.send(request, render(request))


def test_an_email_goes_through_the_proxy_the_environment_names(environment, stub_peer, make_request):
    environment.setenv("HTTP_PROXY", stub_peer.url)
    stub_peer.script(ScriptedResponse(202, headers={"X-Message-Id": "via-proxy"}))
    receipt = send(sendgrid(f"http://{SENDGRID_HOST}"), make_request())
    [sent] = stub_peer.requests
    assert sent.headers["Host"] == SENDGRID_HOST and sent.path == "/v3/mail/send"
    assert receipt.provider_id == "via-proxy"


def test_a_text_goes_through_the_proxy_the_environment_names(environment, stub_peer, make_request):
    environment.setenv("HTTP_PROXY", stub_peer.url)
    stub_peer.script(TEXT_CREATED)
    receipt = send(twilio(f"http://{TWILIO_HOST}"), make_request(channel=ChannelKind.SMS))
    [sent] = stub_peer.requests
    assert sent.headers["Host"] == TWILIO_HOST and sent.path.endswith("/Messages.json")
    assert receipt.provider_id == "SM" + "0" * 32


@pytest.mark.parametrize("channel_kind", [ChannelKind.EMAIL, ChannelKind.SMS])
def test_no_proxy_naming_the_vendors_host_sends_direct(environment, stub_peer, make_request, channel_kind):
    with RecordingPeer() as proxy:
        environment.setenv("HTTP_PROXY", proxy.url)
        environment.setenv("NO_PROXY", "127.0.0.1")
        if channel_kind is ChannelKind.EMAIL:
            stub_peer.script(ScriptedResponse(202))
            send(sendgrid(stub_peer.url), make_request())
        else:
            stub_peer.script(TEXT_CREATED)
            send(twilio(stub_peer.url), make_request(channel=ChannelKind.SMS))
        assert proxy.requests == []
    assert len(stub_peer.requests) == 1


@pytest.mark.parametrize("channel_kind", [ChannelKind.EMAIL, ChannelKind.SMS])
def test_the_environment_is_read_when_the_channel_is_built_not_per_send(
    environment, stub_peer, make_request, channel_kind
):
    environment.setenv("HTTP_PROXY", stub_peer.url)
    if channel_kind is ChannelKind.EMAIL:
        channel, request, answer = sendgrid(f"http://{SENDGRID_HOST}"), make_request(), ScriptedResponse(202)
    else:
        channel, request, answer = twilio(f"http://{TWILIO_HOST}"), make_request(channel=ChannelKind.SMS), TEXT_CREATED
    # A proxy nobody listens on: a send that read the environment again would fail on it.
    environment.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    stub_peer.script(answer, answer)
    send(channel, request)
    send(channel, request)
    assert len(stub_peer.requests) == 2


def test_production_hosts_get_the_https_proxy_unless_no_proxy_names_them(environment):
    environment.setenv("HTTPS_PROXY", "http://proxy.iss.example:3128")
    twilio_url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"
    assert select_proxy(twilio_url, twilio(None).http_client.session.proxies) == "http://proxy.iss.example:3128"
    assert sendgrid("https://api.sendgrid.com")._transport.proxy == "http://proxy.iss.example:3128"

    environment.setenv("NO_PROXY", "api.twilio.com,.sendgrid.com")
    assert select_proxy(twilio_url, twilio(None).http_client.session.proxies) is None
    assert sendgrid("https://api.sendgrid.com")._transport.proxy is None


def test_twilio_keeps_the_ca_bundle_the_environment_names(environment, tmp_path):
    bundle = tmp_path / "corporate-ca.pem"
    environment.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    environment.delenv("CURL_CA_BUNDLE", raising=False)
    assert twilio(None).http_client.session.verify == str(bundle)
