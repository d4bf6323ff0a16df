from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.rendering import (
    SMS_MAX_SEPTETS,
    RenderError,
    fit_sms,
    gsm7_septets,
    is_gsm7,
    london_datetime,
    render,
    salutation,
)
from domain.models import AdrScheme, CaseRole, ChannelKind, Handler, MessageKind

from .conftest import REFERENCE

ALL_KINDS = list(MessageKind)


@pytest.mark.parametrize("channel", list(ChannelKind))
@pytest.mark.parametrize("kind", ALL_KINDS)
def test_every_kind_renders_in_every_form(make_request, kind, channel):
    message = render(make_request(kind, channel))

    assert REFERENCE in message.subject
    assert "\n" not in message.subject
    assert message.text.startswith("Dear Jane O'Brien,")
    assert REFERENCE in message.text
    assert message.html.lstrip().startswith("<!DOCTYPE html>")
    assert REFERENCE in message.html
    assert REFERENCE in message.sms
    assert gsm7_septets(message.sms) <= SMS_MAX_SEPTETS


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_html_is_the_text_laid_out(make_request, kind):
    message = render(make_request(kind))
    # Every paragraph of the text appears in the HTML (escaped), so the two cannot drift apart.
    for paragraph in message.text.split("\n\n"):
        first_line = paragraph.splitlines()[0].replace("'", "&#39;")
        assert first_line in message.html


def test_acknowledgement_confirms_contact_details_and_reference(make_request):
    message = render(make_request(MessageKind.ACKNOWLEDGEMENT))
    assert "- Email: jane.obrien@example.com" in message.text
    assert "- Mobile: 07700 900123" in message.text
    assert f"Your case reference is {REFERENCE}" in message.text
    assert "within 48 hours" in message.text


@pytest.mark.parametrize("kind", [MessageKind.INTRODUCTION, MessageKind.ESCALATION])
def test_handler_direct_details_in_introduction_and_escalation(make_request, manager, kind):
    who = manager if kind is MessageKind.ESCALATION else None
    request = make_request(kind, **({"handler": who} if who else {}))
    handler = request.context.handler
    message = render(request)

    national = {"+441495123456": "01495 123456", "+442920123456": "029 2012 3456"}[handler.phone]
    for body in (message.text, message.html):
        assert handler.name in body
        assert handler.role.title in body
        assert national in body
        assert handler.email in body
    assert national in message.sms
    assert handler.name in message.subject


def test_escalation_names_the_new_owner_and_role(make_request, manager):
    message = render(make_request(MessageKind.ESCALATION, handler=manager))
    assert "now owned by Rhian Evans, Customer Service Manager" in message.text


def test_a_not_satisfied_answer_at_the_top_of_the_ladder_is_not_called_an_escalation(make_request, manager):
    # The owner is already the most senior level: "escalated to <the same person>" would be untrue.
    message = render(make_request(MessageKind.ESCALATION, handler=manager, escalation_top=True))
    for form in (message.subject, message.text, message.html, message.sms):
        assert "escalated" not in form
    assert "re-opened" in message.subject and "Rhian Evans" in message.subject
    assert "stays with Rhian Evans, Customer Service Manager" in message.text
    assert "no more senior level in our complaints process" in message.text
    assert "re-opened" in message.sms and "Rhian Evans" in message.sms


def test_introduction_sets_expectations(make_request):
    # The first owner's introduction, before any schedule is offered at 3 working days.
    text = render(make_request(MessageKind.INTRODUCTION, schedule=None)).text
    assert "3 working days" in text
    assert "8 weeks" in text


def test_an_introduction_after_a_schedule_was_agreed_keeps_to_it_instead_of_offering_one(make_request, manager):
    # An escalation's new owner introduces themselves to a customer who already agreed a schedule.
    text = render(make_request(MessageKind.INTRODUCTION, handler=manager, schedule_agreed_at=AGREED)).text
    assert "3 working days" not in text and "I will offer you a contact time" not in text
    assert "As agreed with you on" in text and "every 7 days at around 10:00" in text
    assert "8 weeks" in text


def test_an_introduction_after_a_schedule_was_offered_keeps_to_it_without_claiming_agreement(make_request, manager):
    # An escalation's new owner, after the 3-working-day offer the customer has not answered: the
    # offer is not made again, and the schedule is not called agreed.
    text = render(make_request(MessageKind.INTRODUCTION, handler=manager)).text
    assert "3 working days" not in text and "I will offer you a contact time" not in text
    assert "agreed" not in text
    assert "I will update you every 7 days at around 10:00" in text
    assert "if that time or how often does not suit you, tell me and I will change it" in text


def test_update_schedule_states_interval_contact_time_and_next_update(make_request):
    message = render(make_request(MessageKind.UPDATE_SCHEDULE))
    assert "every 7 days" in message.text
    assert "10:00" in message.text
    assert "Tue 29 Dec 2026, 16:30" in message.text
    assert "Tue 29 Dec 2026, 16:30" in message.sms


def test_progress_update_carries_the_note(make_request):
    message = render(make_request(MessageKind.PROGRESS_UPDATE))
    assert "Our engineer found a fault at the exchange" in message.text
    assert "Our engineer found a fault at the exchange" in message.sms


@pytest.mark.parametrize("channel", list(ChannelKind))
def test_adr_notice_names_the_scheme_free_and_window(make_request, channel):
    scheme = AdrScheme()
    message = render(make_request(MessageKind.ADR_RIGHTS, channel))
    for body in (message.text, message.html):
        assert scheme.name in body
        assert scheme.phone in body
        assert scheme.website in body
        assert scheme.address in body
        assert "free of charge" in body
        assert "12 months" in body
    assert "free of charge" in message.sms
    assert "12 months" in message.sms


def test_adr_notice_does_not_send_customers_to_ofcom(make_request):
    text = render(make_request(MessageKind.ADR_RIGHTS)).text
    assert "Ofcom, the communications regulator, does not take up or resolve individual complaints" in text
    assert "contact Ofcom" not in text


def test_adr_notice_differs_for_eight_weeks_and_deadlock(make_request):
    eight_weeks = render(make_request(MessageKind.ADR_RIGHTS, adr_reason="eight_weeks")).text
    deadlock = render(make_request(MessageKind.ADR_RIGHTS, adr_reason="deadlock")).text
    assert "open for 8 weeks" in eight_weeks and "deadlock" not in eight_weeks
    assert "reached deadlock" in deadlock and "8 weeks" not in deadlock


def test_adr_notice_uses_the_configured_scheme_and_window(make_request):
    scheme = AdrScheme(
        name="CISAS",
        phone="020 7520 3827",
        website="www.cisas.org.uk",
        address="CISAS, London",
        referral_window_months=9,
    )
    message = render(make_request(MessageKind.ADR_RIGHTS, adr_scheme=scheme))
    assert "CISAS" in message.text and "9 months" in message.text and "12 months" not in message.text


def test_adr_notice_refuses_an_unknown_reason(make_request):
    with pytest.raises(RenderError, match="adr_reason"):
        render(make_request(MessageKind.ADR_RIGHTS, adr_reason="bored"))


def test_compensation_is_credited_to_the_next_invoice(make_request):
    message = render(make_request(MessageKind.COMPENSATION))
    assert "£25.00" in message.text and "next monthly invoice" in message.text
    assert "£25.00" in message.subject
    assert "£25.00" in message.sms


def test_closure_explains_how_to_reopen(make_request):
    message = render(make_request(MessageKind.CLOSURE))
    assert "closed" in message.text and "re-open" in message.text
    assert "re-open" in message.sms


def test_closure_says_until_when_the_case_is_reopened(make_request):
    # v7: "we will re-open your case" with no date was untrue for a customer back after the window.
    reopen_by = datetime(2027, 1, 25, 17, 26, tzinfo=UTC)
    message = render(make_request(MessageKind.CLOSURE, reopen_by=reopen_by))
    assert "please contact us by 25 January 2027 quoting your case reference" in message.text
    assert "After that date we will look at it as a new complaint." in message.text
    assert "If the problem comes back by 25 January 2027, call" in message.sms
    for outcome in ("withdrawn", "no_response"):
        text = render(make_request(MessageKind.CLOSURE, reopen_by=reopen_by, closure_outcome=outcome)).text
        assert "by 25 January 2027" in text
    # Closed for good, or handled elsewhere: no re-opening is promised, so no date either.
    for outcome in ("duplicate", "referred_to_adr"):
        closed = render(make_request(MessageKind.CLOSURE, reopen_by=reopen_by, closure_outcome=outcome))
        assert "2027" not in closed.text and "2027" not in closed.sms


def test_a_closure_without_the_date_keeps_its_earlier_words(make_request):
    # Cases begun before v7 close as they always did.
    message = render(make_request(MessageKind.CLOSURE))
    assert "please contact us quoting your case reference" in message.text and "new complaint" not in message.text


@pytest.mark.parametrize("kind", [MessageKind.CLOSURE, MessageKind.ASK_TO_CLOSE, MessageKind.INTRODUCTION])
def test_not_satisfied_goes_one_level_up_never_to_the_manager_who_already_owns_it(make_request, handler, manager, kind):
    by_handler = render(make_request(kind, handler=handler)).text
    assert "to the Customer Service Manager" in by_handler and "to the Head" not in by_handler
    by_manager = render(make_request(kind, handler=manager)).text
    assert "to the Head of Professional Services" in by_manager
    assert "to the Customer Service Manager" not in by_manager
    head = manager.model_copy(update={"role": CaseRole.HEAD_OF_PROFESSIONAL_SERVICES})
    at_the_top = render(make_request(kind, handler=head)).text
    assert "to the Customer Service Manager" not in at_the_top and "to the Head" not in at_the_top


@pytest.mark.parametrize(
    ("kind", "missing"),
    [
        (MessageKind.INTRODUCTION, "handler"),
        (MessageKind.ESCALATION, "handler"),
        (MessageKind.UPDATE_SCHEDULE, "schedule"),
        (MessageKind.UPDATE_SCHEDULE, "next_update_at"),
        (MessageKind.ADR_RIGHTS, "adr_scheme"),
        (MessageKind.COMPENSATION, "compensation_gbp"),
    ],
)
def test_a_message_without_what_it_must_say_is_refused(make_request, kind, missing):
    with pytest.raises(RenderError, match=missing):
        render(make_request(kind, **{missing: None}))


def test_a_regular_update_with_no_note_yet_still_goes_and_says_there_is_no_news(make_request):
    # The update is owed on schedule whether or not the handler has written anything.
    message = render(make_request(MessageKind.PROGRESS_UPDATE, progress_note=None))
    assert "no new progress" in message.text and "no new progress" in message.sms
    assert "None" not in message.text and "None" not in message.html


# --- customer text is data ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_template_syntax_in_a_name_is_printed_not_run(make_request, kind):
    message = render(make_request(kind, customer_name="{{ 7*191 }} {% raw %}"))
    assert "Dear {{ 7*191 }} {% raw %}," in message.text
    assert "1337" not in message.text


def test_a_text_carries_a_note_up_to_its_limit_and_says_when_the_rest_follows_in_writing(make_request):
    from domain.reach import SMS_NOTE_CHARS

    fits = "x" * SMS_NOTE_CHARS
    assert fits in render(make_request(MessageKind.PROGRESS_UPDATE, progress_note=fits)).sms
    long_note = "y" * (SMS_NOTE_CHARS + 1)
    cut = render(make_request(MessageKind.PROGRESS_UPDATE, progress_note=long_note)).sms
    assert long_note not in cut and "follows in writing" not in cut
    told = render(make_request(MessageKind.PROGRESS_UPDATE, progress_note=long_note, progress_note_in_writing=True))
    assert "(the full update follows in writing)" in told.sms
    assert long_note in told.text  # the written copy carries all of it


def test_template_syntax_in_a_note_is_printed_not_run(make_request):
    note = "{{ ''.__class__.__mro__ }} {{ config }} {% for x in range(3) %}x{% endfor %}"
    message = render(make_request(MessageKind.PROGRESS_UPDATE, progress_note=note))
    assert note in message.text
    assert "xxx" not in message.text


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_markup_in_a_name_is_escaped_in_html(make_request, kind):
    message = render(make_request(kind, customer_name='<script>alert("x")</script> & co'))
    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co" in message.html
    assert '<script>alert("x")</script> & co' in message.text


def test_markup_in_a_handler_name_is_escaped_in_the_html_heading(make_request, handler):
    evil = handler.model_copy(update={"name": "<b>Sam</b>"})
    html = render(make_request(MessageKind.INTRODUCTION, handler=evil)).html
    assert "<b>Sam</b>" not in html and "&lt;b&gt;Sam&lt;/b&gt;" in html


def test_line_breaks_cannot_reach_the_subject(make_request, handler):
    evil = handler.model_copy(update={"name": "Sam\r\nBcc: everyone@example.com\nX-Evil: 1"})
    for kind in (MessageKind.INTRODUCTION, MessageKind.ESCALATION):
        subject = render(make_request(kind, handler=evil, reference="CMP-1\r\nBcc: x@example.com")).subject
        assert "\r" not in subject and "\n" not in subject
        assert "Sam Bcc: everyone@example.com X-Evil: 1" in subject


# --- SMS budget -----------------------------------------------------------------------------------

LONG_NAME = "Bartholomew Maximilian Fitzwilliam-Montgomery-Smythe " * 4


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_sms_for_a_long_name_stays_within_two_segments(make_request, handler, kind):
    long_handler = handler.model_copy(update={"name": LONG_NAME.strip(), "email": "a" * 60 + "@example.com"})
    request = make_request(
        kind,
        customer_name=LONG_NAME.strip(),
        handler=long_handler,
        progress_note="The engineer said " * 200,
        adr_scheme=AdrScheme(name="Ombudsman " * 20, website="www." + "x" * 200 + ".org"),
        reference=REFERENCE,
    )
    sms = render(request).sms
    assert gsm7_septets(sms) <= SMS_MAX_SEPTETS
    assert all(is_gsm7(c) for c in sms)
    assert REFERENCE in sms


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(min_size=1, max_size=200).filter(str.strip), note=st.text(min_size=1, max_size=2000).filter(str.strip)
)
def test_sms_is_gsm7_within_306_septets_whatever_the_customer_typed(make_request, name, note):
    for kind in (MessageKind.ACKNOWLEDGEMENT, MessageKind.INTRODUCTION, MessageKind.PROGRESS_UPDATE):
        sms = render(make_request(kind, customer_name=name, progress_note=note)).sms
        assert gsm7_septets(sms) <= SMS_MAX_SEPTETS
        assert all(is_gsm7(c) for c in sms)
        assert REFERENCE in sms


def test_sms_folds_non_gsm_characters_instead_of_switching_to_ucs2(make_request):
    sms = render(make_request(MessageKind.ACKNOWLEDGEMENT, customer_name="Łukasz “Zoë” Ñúñez 😀")).sms
    assert 'Hi Lukasz "Zoe" Ñuñez ?,' in sms


def test_fit_sms_counts_extension_characters_twice():
    text = "{" * 200
    fitted = fit_sms(text)
    assert gsm7_septets(fitted) <= SMS_MAX_SEPTETS
    assert fitted.endswith("...")


# --- dates ----------------------------------------------------------------------------------------


def test_dates_are_uk_local_time_in_winter_and_summer():
    assert london_datetime(datetime(2026, 12, 29, 16, 30, tzinfo=UTC)) == "Tue 29 Dec 2026, 16:30"
    assert london_datetime(datetime(2026, 7, 1, 9, 30, tzinfo=UTC)) == "Wed 1 Jul 2026, 10:30"


def test_handler_abroad_gets_an_international_number(make_request):
    abroad = Handler(id="x", name="Ana", role=CaseRole.CASE_HANDLER, phone="+33142685300", email="ana@example.com")
    text = render(make_request(MessageKind.INTRODUCTION, handler=abroad)).text
    assert "+33 1 42 68 53 00" in text


# --- salutation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "title", "expected"),
    [
        ("Alan Rees", "Mr", "Mr Rees"),
        ("Alan Rees", None, "Alan Rees"),
        ("  Alan   Rees ", None, "Alan Rees"),
        ("Alan  Rees", " Dr ", "Dr Rees"),
        ("Cher", "Ms", "Ms Cher"),
        ("Cher", None, "Cher"),
        ("Siân Fitzwilliam-Smythe", "Mrs", "Mrs Fitzwilliam-Smythe"),
        # A surname's particles belong to it: "Dear Ms Cruz" or "Dear Dr. Gruffydd" is another name.
        ("Mary Ann de la Cruz", "Ms", "Ms de la Cruz"),
        ("Dr. Llywelyn ap Gruffydd", None, "Dr. ap Gruffydd"),
        ("Ludwig van Beethoven", "Mr", "Mr van Beethoven"),
        ("Robert De Niro", "Mr", "Mr De Niro"),
        ("Nia ferch Rhys", "Ms", "Ms ferch Rhys"),
        ("Van Morrison", "Mr", "Mr Morrison"),  # the given name is never taken for a particle
    ],
)
def test_salutation_is_title_and_surname_else_the_full_name(name, title, expected):
    assert salutation(name, title) == expected


@pytest.mark.parametrize("channel", list(ChannelKind))
@pytest.mark.parametrize("kind", ALL_KINDS)
def test_a_customer_with_a_title_is_dear_mr_rees_in_every_kind_and_channel(make_request, kind, channel):
    message = render(make_request(kind, channel, customer_name="Alan  Rees", customer_title="Mr"))
    assert message.text.startswith("Dear Mr Rees,\n")
    assert "Dear Mr Rees," in message.html
    assert "Alan" not in message.text.split("\n", 1)[0]
    if "Hi " in message.sms:
        assert "Hi Mr Rees," in message.sms


# --- the acknowledgement --------------------------------------------------------------------------


@pytest.mark.parametrize("channel", list(ChannelKind))
def test_acknowledgement_is_signed_by_the_complaints_team_never_a_handler(make_request, channel):
    # Even if a handler were already known, the acknowledgement comes from the team: the handler
    # introduces themselves separately within 48 hours.
    request = make_request(MessageKind.ACKNOWLEDGEMENT, channel)
    assert request.context.handler is not None
    message = render(request)
    for body in (message.text, message.html, message.sms):
        assert "Sam Patel" not in body
        assert "Case Handler" not in body
        assert "The Complaints Team" in body
        assert "case handler will contact you within 48 hours" in body.lower()
    assert message.text.rstrip().endswith("The Complaints Team\nInfinity System Solutions Ltd")


def test_acknowledgement_asks_the_customer_to_say_if_the_details_are_wrong(make_request):
    message = render(make_request(MessageKind.ACKNOWLEDGEMENT))
    assert "If any of them are wrong, please let us know" in message.text
    assert "contact details we hold are wrong" in message.sms


def test_acknowledgement_sms_promises_no_written_confirmation_it_cannot_know_of(make_request):
    # An acknowledgement goes by SMS only when the written channels refused it.
    assert "in writing" not in render(make_request(MessageKind.ACKNOWLEDGEMENT, ChannelKind.SMS)).sms


# --- the ADR letter -------------------------------------------------------------------------------

MARK = datetime(2026, 12, 28, 9, 15, tzinfo=UTC)


@pytest.mark.parametrize("channel", list(ChannelKind))
def test_the_eight_week_letter_sent_before_the_mark_says_from_that_date(make_request, channel):
    message = render(make_request(MessageKind.ADR_RIGHTS, channel, eight_weeks_at=MARK, adr_rights_from=MARK))
    assert "On 28 December 2026 your complaint, case reference" in message.text
    assert "will have been open for 8 weeks" in message.text
    assert "From that date, if your complaint has not been resolved by then, you can refer it" in message.text
    for body in (message.text, message.html, message.sms):
        assert "now been open" not in body
        assert "You now have the right" not in body
    assert "will have been open 8 weeks on 28 December 2026. From that date you can refer it" in message.sms
    assert "from 28 December 2026" in message.subject


def test_the_eight_week_letter_sent_at_the_mark_says_now(make_request):
    message = render(make_request(MessageKind.ADR_RIGHTS, eight_weeks_at=MARK))
    assert "has now been open for 8 weeks without being resolved" in message.text
    assert "You now have the right to refer your complaint to Communications Ombudsman" in message.text
    assert "will have been" not in message.text
    assert "has been open 8 weeks. You can now refer it" in message.sms


def test_the_deadlock_letter_says_why_in_the_handlers_words(make_request):
    reason = "We cannot waive the early termination charge under your contract."
    message = render(make_request(MessageKind.ADR_RIGHTS, adr_reason="deadlock", deadlock_reason=reason))
    assert f"Why we have reached deadlock: {reason}" in message.text
    assert "We have written to you" not in message.text
    assert "You now have the right" in message.text


def test_the_deadlock_reason_is_data_not_template_source(make_request):
    reason = "{{ 7*191 }} {% if true %}x{% endif %}"
    message = render(make_request(MessageKind.ADR_RIGHTS, adr_reason="deadlock", deadlock_reason=reason))
    assert reason in message.text and "1337" not in message.text


# --- offered, not agreed --------------------------------------------------------------------------

AGREED = datetime(2026, 11, 20, 14, 5, tzinfo=UTC)


@pytest.mark.parametrize("channel", list(ChannelKind))
@pytest.mark.parametrize("kind", ALL_KINDS)
def test_no_message_claims_an_agreement_nobody_recorded(make_request, kind, channel):
    message = render(make_request(kind, channel, schedule_agreed_at=None))
    for body in (message.subject, message.text, message.html, message.sms):
        assert "agreed" not in body.lower().replace("not agreed", "")


def test_update_schedule_at_three_working_days_is_an_offer_with_how_to_change_it(make_request):
    message = render(make_request(MessageKind.UPDATE_SCHEDULE))
    assert "The contact arrangement we are offering:" in message.text
    assert "every 7 days" in message.text and "around 10:00" in message.text
    assert (
        "please call Sam Patel on 01495 123456, email sam.patel@iss.example.com, or reply to this email "
        "and we will change it"
    ) in message.text
    assert "we offer to update you every 7 days" in message.sms
    assert "To change this, call 01495 123456" in message.sms


def test_update_schedule_sent_by_letter_asks_for_a_call_email_or_letter(make_request):
    text = render(make_request(MessageKind.UPDATE_SCHEDULE, ChannelKind.LETTER)).text
    assert "email sam.patel@iss.example.com, or write to us and we will change it" in text
    assert "reply to this email" not in text


def test_an_agreed_schedule_says_when_it_was_agreed(make_request):
    message = render(make_request(MessageKind.UPDATE_SCHEDULE, schedule_agreed_at=AGREED))
    assert "as agreed with you on 20 November 2026" in message.text
    assert "Our agreed contact arrangement:" in message.text
    assert "offering" not in message.text
    assert "as agreed on 20 November 2026" in message.sms


def test_progress_update_says_as_agreed_only_when_agreed(make_request):
    offered = render(make_request(MessageKind.PROGRESS_UPDATE)).text
    agreed = render(make_request(MessageKind.PROGRESS_UPDATE, schedule_agreed_at=AGREED)).text
    assert "agreed" not in offered
    assert "If the time or how often we update you does not suit you, please call Sam Patel" in offered
    assert "as agreed with you on 20 November 2026" in agreed
    assert "does not suit you" not in agreed


def test_adr_letter_keeps_updating_as_agreed_only_when_agreed(make_request):
    offered = render(make_request(MessageKind.ADR_RIGHTS)).text
    agreed = render(make_request(MessageKind.ADR_RIGHTS, schedule_agreed_at=AGREED)).text
    assert "will keep updating you every 7 days" in offered and "as agreed" not in offered
    assert "will keep you updated as agreed" in agreed


# --- nothing new ----------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", list(ChannelKind))
def test_an_update_with_nothing_new_says_so_plainly(make_request, channel):
    message = render(make_request(MessageKind.PROGRESS_UPDATE, channel, progress_note=None))
    assert "no new progress since our last update" in message.text
    assert "no new progress since our last update" in message.sms
    assert "latest progress" not in message.text and "latest update" not in message.text


def test_an_update_with_news_leads_with_it(make_request):
    text = render(make_request(MessageKind.PROGRESS_UPDATE)).text
    assert "Here is the latest progress on your complaint" in text
    assert "no new progress" not in text


@pytest.mark.parametrize(
    "kind", [MessageKind.ACKNOWLEDGEMENT, MessageKind.ADR_RIGHTS, MessageKind.COMPENSATION, MessageKind.ESCALATION]
)
def test_a_written_message_sent_by_sms_as_a_last_resort_promises_nothing_in_writing(make_request, kind):
    # These go by the written channel; a text carries them only when email and letter refused.
    assert "in writing" not in render(make_request(kind, ChannelKind.SMS)).sms


def test_a_title_typed_into_the_name_still_gives_a_business_salutation() -> None:
    from channels.rendering import salutation

    assert salutation("Mr Alan Rees") == "Mr Rees"
    assert salutation("Dr. Siân Evans-Jones") == "Dr. Evans-Jones"
    assert salutation("Alan Rees") == "Alan Rees"
    assert salutation("Misty Rivers") == "Misty Rivers"  # a first name is not a title


@pytest.mark.parametrize("channel", [ChannelKind.EMAIL, ChannelKind.SMS, ChannelKind.LETTER])
def test_a_late_acknowledgement_promises_no_48_hours_already_gone(make_request, channel):
    request = make_request(MessageKind.ACKNOWLEDGEMENT, channel)
    late = request.model_copy(update={"context": request.context.model_copy(update={"introduction_due_at": None})})
    message = render(late)
    for body in (message.text, message.sms):
        assert "48 hours" not in body
    assert "later than it should have" in message.text and "Sorry this is late" in message.sms
