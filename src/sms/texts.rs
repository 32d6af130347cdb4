//! The words of each text. A confirmation or reminder says the tenant's own
//! `sms_confirmation` / `sms_reminder` with its placeholders filled (the default wording
//! of `crate::wording` when it has none), followed by [`REPLY_HINT`] unless the words
//! already tell the customer to reply C. Values are defused (see [`words::defuse`]) and,
//! when the text would take more than two segments, the business, service, provider and
//! caller names are shortened step by step until it fits: the date, the time and the reply
//! hint never are. Wording that cannot fit for this appointment (say a name needs UCS-2)
//! gives way to the default wording, which always does. The cancellation and "no booking"
//! answers come from the Askama templates in `templates/sms/`. Every rendered text is
//! checked again for opt-out keywords before it is sent.

use askama::Template;
use jiff::{Timestamp, tz::TimeZone};

use super::{Kind, words};
use crate::{
    domain::FieldError,
    wording::{self, Field, Piece, Values},
};

/// Most segments a confirmation or reminder may take.
pub const MAX_SEGMENTS: usize = 2;

/// How the customer calls an appointment off; added to every confirmation and reminder
/// whose wording does not say "reply C" itself.
pub const REPLY_HINT: &str = "Can't make it? Reply C to call it off.";

/// Name limits (characters) tried in turn until the text fits.
const NAME_LIMITS: [usize; 7] = [usize::MAX, 48, 32, 24, 16, 10, 6];

/// What a text about an appointment says.
#[derive(Debug, Clone)]
pub struct Facts {
    /// Business name.
    pub business: String,
    /// Service booked.
    pub service: String,
    /// Provider booked.
    pub provider: String,
    /// The caller's name, as booked.
    pub name: String,
    /// Start of the appointment.
    pub start: Timestamp,
    /// The tenant's time zone (the time is written in it).
    pub tz: TimeZone,
    /// The tenant's phone number, for "call us".
    pub phone: String,
    /// The tenant's `sms_confirmation` (`None`: the default wording).
    pub sms_confirmation: Option<String>,
    /// The tenant's `sms_reminder` (`None`: the default wording).
    pub sms_reminder: Option<String>,
    /// The tenant's `sms_moved` (`None`: the default wording).
    pub sms_moved: Option<String>,
}

#[derive(Template)]
#[template(path = "sms/cancelled.txt")]
struct Cancelled<'a> {
    business: &'a str,
    service: &'a str,
    provider: &'a str,
    when: &'a str,
    phone: &'a str,
}

#[derive(Template)]
#[template(path = "sms/no_booking.txt")]
struct NoBooking<'a> {
    business: &'a str,
    phone: &'a str,
}

/// "Tue, Nov 24 at 3:00 PM" in the tenant's zone.
pub fn when(start: Timestamp, tz: &TimeZone) -> String {
    format!("{} at {}", date(start, tz), time(start, tz))
}

/// `{date}` in a text: "Tue, Nov 24" (short, to save characters).
fn date(start: Timestamp, tz: &TimeZone) -> String {
    tz.to_datetime(start).strftime("%a, %b %-d").to_string()
}

/// `{time}` in a text: "3:00 PM".
fn time(start: Timestamp, tz: &TimeZone) -> String {
    tz.to_datetime(start).strftime("%-I:%M %p").to_string()
}

/// Renders the text of `kind` about an appointment, shortened to fit and defused.
pub fn render(kind: Kind, facts: &Facts) -> String {
    let (field, own) = match kind {
        Kind::Confirmation => (&wording::SMS_CONFIRMATION, &facts.sms_confirmation),
        Kind::Reminder => (&wording::SMS_REMINDER, &facts.sms_reminder),
        Kind::Moved => (&wording::SMS_MOVED, &facts.sms_moved),
        Kind::Cancelled | Kind::Reply => return render_answer(kind, facts),
    };
    let date = date(facts.start, &facts.tz);
    let time = time(facts.start, &facts.tz);
    let fitted = |template: &str| fit(template, facts, &date, &time);
    match own.as_deref().map(fitted) {
        Some(Ok(text)) => text,
        Some(Err(_)) | None => fitted(field.default).unwrap_or_else(|longest| longest),
    }
}

/// `template` filled for `facts` with names shortened step by step until the text fits
/// [`MAX_SEGMENTS`]; `Err` with the shortest version when even that does not fit.
fn fit(template: &str, facts: &Facts, date: &str, time: &str) -> Result<String, String> {
    let mut last = String::new();
    for limit in NAME_LIMITS {
        let cut = |v: &str| words::defuse(&words::shorten(v, limit));
        let (business, service, provider, name) = (
            cut(&facts.business),
            cut(&facts.service),
            cut(&facts.provider),
            cut(&facts.name),
        );
        let values = Values {
            name: Some(&name),
            service: Some(&service),
            provider: Some(&provider),
            date: Some(date),
            time: Some(time),
            business: Some(&business),
        };
        // Defusing the whole text too keeps a keyword out even if stored wording has one.
        last = with_hint(&words::defuse(&wording::fill(template, &values)));
        if words::segments(&last) <= MAX_SEGMENTS {
            return Ok(last);
        }
    }
    Err(last)
}

/// `body` followed by [`REPLY_HINT`], unless it already tells the customer to reply C.
fn with_hint(body: &str) -> String {
    let body = body.trim();
    if says_reply_c(body) {
        return body.to_string();
    }
    let stop = if body.ends_with(|c: char| c.is_alphanumeric()) {
        "."
    } else {
        ""
    };
    if body.is_empty() {
        REPLY_HINT.to_string()
    } else {
        format!("{body}{stop} {REPLY_HINT}")
    }
}

/// True when `text` has the words "reply C" (any case), as the hint does.
pub fn says_reply_c(text: &str) -> bool {
    let words: Vec<&str> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .any(|w| w[0].eq_ignore_ascii_case("reply") && w[1].eq_ignore_ascii_case("c"))
}

/// Checks an operator's `sms_confirmation` or `sms_reminder` on save (after
/// `wording::check`): no opt-out keyword in its own words, and short enough to fit
/// [`MAX_SEGMENTS`] with the reply hint, the longest date and time, and names at their
/// shortest. The error names the field and says what to change.
pub fn check_wording(field: &Field, text: &str) -> Result<(), FieldError> {
    let fail = |message: String| FieldError {
        field: field.name.into(),
        message,
    };
    let pieces = wording::parse(text).map_err(|(_, m)| fail(m))?;
    for piece in &pieces {
        if let Piece::Text(t) = piece
            && let Some(word) = words::forbidden_word(t)
        {
            return Err(fail(format!(
                "says {word}, which Telnyx treats as an opt-out keyword: a customer who replies with it is unsubscribed from every text on the messaging profile; say it another way (slotline adds \"{REPLY_HINT}\" unless your words say \"reply C\")"
            )));
        }
    }
    // Names at their shortest, plus one character for a dot `defuse` may add.
    let short = "W".repeat(NAME_LIMITS[NAME_LIMITS.len() - 1] + 1);
    let sample = Values {
        name: Some(&short),
        service: Some(&short),
        provider: Some(&short),
        date: Some("Wed, Sep 30"),
        time: Some("12:00 PM"),
        business: Some(&short),
    };
    let filled = with_hint(&wording::fill(text, &sample));
    let (encoding, units, segments) = words::measure(&filled);
    if segments > MAX_SEGMENTS {
        let (limit, unit) = match encoding {
            words::Encoding::Gsm7 => (306, "GSM-7 characters"),
            words::Encoding::Ucs2 => (
                134,
                "UCS-2 units (a character outside GSM-7 makes the whole text UCS-2)",
            ),
        };
        return Err(fail(format!(
            "is too long for a text: with the date, the time{} and names at their shortest it takes {units} of at most {limit} {unit} ({segments} segments; slotline sends at most {MAX_SEGMENTS}); shorten it by {} or more",
            if says_reply_c(text) {
                ""
            } else {
                ", the reply hint"
            },
            units - limit
        )));
    }
    Ok(())
}

/// The cancellation confirmation, and the answer to a `C` with nothing to cancel.
fn render_answer(kind: Kind, facts: &Facts) -> String {
    let when = when(facts.start, &facts.tz);
    let phone = words::defuse(&facts.phone);
    let mut last = String::new();
    for limit in NAME_LIMITS {
        let cut = |v: &str| words::defuse(&words::shorten(v, limit));
        let (business, service, provider) = (
            cut(&facts.business),
            cut(&facts.service),
            cut(&facts.provider),
        );
        let rendered = if kind == Kind::Cancelled {
            Cancelled {
                business: &business,
                service: &service,
                provider: &provider,
                when: &when,
                phone: &phone,
            }
            .render()
        } else {
            NoBooking {
                business: &business,
                phone: &phone,
            }
            .render()
        };
        last = rendered.unwrap_or_default().trim().to_string();
        if words::segments(&last) <= MAX_SEGMENTS {
            break;
        }
    }
    last
}

/// The answer to a `C` from a number with no upcoming booking.
pub fn no_booking(business: &str, phone: &str) -> String {
    let business = words::defuse(&words::shorten(business, 48));
    NoBooking {
        business: &business,
        phone: &words::defuse(phone),
    }
    .render()
    .unwrap_or_default()
    .trim()
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn facts(business: &str, service: &str, provider: &str) -> Facts {
        Facts {
            business: business.into(),
            service: service.into(),
            provider: provider.into(),
            start: "2026-11-24T21:00:00Z".parse().unwrap(),
            tz: TimeZone::get("America/Chicago").unwrap(),
            phone: "+13125550100".into(),
            name: "Maria Lopez".into(),
            sms_confirmation: None,
            sms_reminder: None,
            sms_moved: None,
        }
    }

    #[test]
    fn a_confirmation_names_everything_in_local_time() {
        let text = render(Kind::Confirmation, &facts("Bella Salon", "Haircut", "Anna"));
        assert_eq!(
            text,
            "Bella Salon: your Haircut with Anna is booked for Tue, Nov 24 at 3:00 PM. Can't make it? Reply C to call it off."
        );
        assert_eq!(words::segments(&text), 1);
    }

    #[test]
    fn a_long_business_name_is_shortened_to_fit_two_segments() {
        let long = "The Extraordinarily Long-Named Grand Metropolitan Hair, Beauty, Nails and Wellness Studio of Greater Chicagoland Incorporated";
        for kind in [Kind::Confirmation, Kind::Reminder, Kind::Cancelled] {
            let text = render(kind, &facts(long, "Deluxe colour and cut", "Anna-Maria"));
            assert!(words::segments(&text) <= 2, "{text}");
            assert!(text.contains("Tue, Nov 24 at 3:00 PM"), "{text}");
            assert!(
                text.starts_with("The Extraordinarily") || text.starts_with("Reminder from The"),
                "{text}"
            );
        }
    }

    #[test]
    fn a_non_latin_name_is_ucs2_and_still_fits_two_segments() {
        let text = render(
            Kind::Confirmation,
            &facts(
                "東京ヘアサロン・銀座本店・スペシャルスタイリングスタジオ",
                "カット",
                "田中美咲",
            ),
        );
        assert_eq!(words::measure(&text).0, words::Encoding::Ucs2);
        assert!(words::segments(&text) <= 2, "{text}");
        assert!(text.contains("Reply C"), "{text}");
        let reminder = render(
            Kind::Reminder,
            &facts("Салон красоты «Анна»", "Стрижка", "Анна"),
        );
        assert!(words::segments(&reminder) <= 2, "{reminder}");
    }

    #[test]
    fn keywords_in_names_are_defused() {
        let text = render(
            Kind::Confirmation,
            &facts("Full Stop Salon", "Quit smoking", "End"),
        );
        assert_eq!(words::forbidden_word(&text), None, "{text}");
    }

    fn own(confirmation: &str) -> Facts {
        Facts {
            sms_confirmation: Some(confirmation.into()),
            sms_reminder: Some("See you {date}, {name}!".into()),
            ..facts("Bella Salon", "Haircut", "Anna")
        }
    }

    #[test]
    fn the_tenants_own_words_are_sent_with_placeholders_filled_and_the_hint_added() {
        let f = own("Hi {name}! {service} with {provider}, {date} at {time}. {business}");
        assert_eq!(
            render(Kind::Confirmation, &f),
            "Hi Maria Lopez! Haircut with Anna, Tue, Nov 24 at 3:00 PM. Bella Salon. Can't make it? Reply C to call it off."
        );
        assert_eq!(
            render(Kind::Reminder, &f),
            "See you Tue, Nov 24, Maria Lopez! Can't make it? Reply C to call it off."
        );
    }

    #[test]
    fn words_that_already_say_reply_c_get_no_second_hint() {
        let text = render(
            Kind::Confirmation,
            &own("Booked {date} {time}. To call it off, reply c."),
        );
        assert_eq!(text, "Booked Tue, Nov 24 3:00 PM. To call it off, reply c.");
        assert!(!says_reply_c("Reply Cx"));
        assert!(says_reply_c("...just REPLY C!"));
    }

    #[test]
    fn long_names_in_own_words_are_shortened_never_the_time_or_the_hint() {
        let wording = "Dear {name}, {business} has you down for {service} with {provider} on {date} at {time}. We look forward to seeing you and hope the weather is kind to you on the way.";
        check_wording(&wording::SMS_CONFIRMATION, wording).unwrap();
        let f = Facts {
            sms_confirmation: Some(wording.into()),
            name: "Maria Fernanda de los Angeles Lopez Garcia".into(),
            ..facts(
                &"Grand Metropolitan ".repeat(6),
                "Deluxe colour and cut and style",
                "Anna-Maria Fitzgerald-Smythe",
            )
        };
        let text = render(Kind::Confirmation, &f);
        assert!(words::segments(&text) <= MAX_SEGMENTS, "{text}");
        assert!(text.starts_with("Dear Maria"), "{text}");
        assert!(
            text.contains("on Tue, Nov 24 at 3:00 PM. We look forward"),
            "{text}"
        );
        assert!(text.ends_with(REPLY_HINT), "{text}");
    }

    #[test]
    fn own_words_that_cannot_fit_a_ucs2_name_give_way_to_the_default() {
        let wording = format!(
            "{} {{provider}} {{date}} {{time}}",
            "Booked! ".repeat(22).trim()
        );
        check_wording(&wording::SMS_CONFIRMATION, &wording).unwrap();
        let f = Facts {
            sms_confirmation: Some(wording),
            ..facts("Bella Salon", "Haircut", "田中美咲")
        };
        let text = render(Kind::Confirmation, &f);
        assert_eq!(
            text,
            "Bella Salon: your Haircut with 田中美咲 is booked for Tue, Nov 24 at 3:00 PM. Can't make it? Reply C to call it off."
        );
    }

    #[test]
    fn own_words_with_a_keyword_or_too_long_are_refused_saying_what_to_change() {
        let err = check_wording(&wording::SMS_REMINDER, "Reply CANCEL to cancel").unwrap_err();
        assert_eq!(err.field, "sms_reminder");
        assert!(
            err.message
                .starts_with("says CANCEL, which Telnyx treats as an opt-out keyword"),
            "{}",
            err.message
        );
        let err = check_wording(&wording::SMS_CONFIRMATION, &"x".repeat(300)).unwrap_err();
        assert_eq!(err.field, "sms_confirmation");
        assert!(
            err.message
                .contains("takes 340 of at most 306 GSM-7 characters"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("shorten it by 34 or more"),
            "{}",
            err.message
        );
        let err = check_wording(&wording::SMS_CONFIRMATION, &"é東".repeat(60)).unwrap_err();
        assert!(err.message.contains("UCS-2"), "{}", err.message);
        check_wording(&wording::SMS_CONFIRMATION, &"x".repeat(266)).unwrap();
        assert!(check_wording(&wording::SMS_CONFIRMATION, &"x".repeat(267)).is_err());
        check_wording(
            &wording::SMS_CONFIRMATION,
            wording::SMS_CONFIRMATION.default,
        )
        .unwrap();
        check_wording(&wording::SMS_REMINDER, wording::SMS_REMINDER.default).unwrap();
    }

    proptest! {
        #[test]
        fn no_text_ever_contains_a_keyword_or_exceeds_two_segments(
            business in "(?i)[a-zé東 ]{0,20}(stop|end|quit|cancel|unsubscribe|stopall)?[a-z ]{0,80}",
            service in "\\PC{1,60}",
            provider in "(?i)(stop|end|quit|cancel|[a-zА-я]{1,30})( [a-z]{1,12})?",
        ) {
            for kind in [Kind::Confirmation, Kind::Reminder, Kind::Cancelled, Kind::Reply] {
                let text = render(kind, &facts(&business, &service, &provider));
                prop_assert_eq!(words::forbidden_word(&text), None, "{}", text);
                if matches!(kind, Kind::Confirmation | Kind::Reminder) {
                    prop_assert!(words::segments(&text) <= MAX_SEGMENTS, "{}", text);
                }
            }
        }

        #[test]
        fn own_words_that_pass_the_check_always_fit_say_no_keyword_and_say_reply_c(
            parts in prop::collection::vec(
                prop_oneof![
                    "[A-Za-z ,.!'-]{0,40}",
                    "(?i)(stop|end|quit)",
                    Just("{name}".to_string()), Just("{service}".to_string()),
                    Just("{provider}".to_string()), Just("{date}".to_string()),
                    Just("{time}".to_string()), Just("{business}".to_string()),
                ],
                0..12,
            ),
            business in "\\PC{1,60}",
            name in "(?i)(stop|[a-zé]{1,20})( [a-zA-Zё]{1,20}){0,3}",
            provider in "[a-zA-Z ]{1,40}",
        ) {
            let wording = parts.concat();
            prop_assume!(wording::check(&wording::SMS_CONFIRMATION, &wording).is_ok());
            prop_assume!(check_wording(&wording::SMS_CONFIRMATION, &wording).is_ok());
            let f = Facts {
                sms_confirmation: Some(wording.clone()),
                name,
                ..facts(&business, "Haircut", &provider)
            };
            let text = render(Kind::Confirmation, &f);
            prop_assert!(words::segments(&text) <= MAX_SEGMENTS, "{}", text);
            prop_assert_eq!(words::forbidden_word(&text), None, "{}", text);
            prop_assert!(says_reply_c(&text), "{}", text);
        }
    }
}
