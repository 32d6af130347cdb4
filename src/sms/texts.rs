//! The words of each text, from the Askama templates in `templates/sms/`. Operator and
//! caller values are defused first (see [`words::defuse`]), and when a confirmation or
//! reminder would take more than two segments the business, service and provider names
//! are shortened step by step until it fits: the time and "Reply C" never are. Every
//! rendered text is checked again for opt-out keywords before it is sent.

use askama::Template;
use jiff::{Timestamp, tz::TimeZone};

use super::{Kind, words};

/// Most segments a confirmation or reminder may take.
pub const MAX_SEGMENTS: usize = 2;

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
    /// Start of the appointment.
    pub start: Timestamp,
    /// The tenant's time zone (the time is written in it).
    pub tz: TimeZone,
    /// The tenant's phone number, for "call us".
    pub phone: String,
}

#[derive(Template)]
#[template(path = "sms/confirmation.txt")]
struct Confirmation<'a> {
    business: &'a str,
    service: &'a str,
    provider: &'a str,
    when: &'a str,
}

#[derive(Template)]
#[template(path = "sms/reminder.txt")]
struct Reminder<'a> {
    business: &'a str,
    service: &'a str,
    provider: &'a str,
    when: &'a str,
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
    tz.to_datetime(start)
        .strftime("%a, %b %-d at %-I:%M %p")
        .to_string()
}

/// Renders the text of `kind` about an appointment, shortened to fit and defused.
pub fn render(kind: Kind, facts: &Facts) -> String {
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
        let (business, service, provider, when, phone) =
            (&*business, &*service, &*provider, &*when, &*phone);
        let rendered = match kind {
            Kind::Confirmation => Confirmation {
                business,
                service,
                provider,
                when,
            }
            .render(),
            Kind::Reminder => Reminder {
                business,
                service,
                provider,
                when,
            }
            .render(),
            Kind::Cancelled => Cancelled {
                business,
                service,
                provider,
                when,
                phone,
            }
            .render(),
            Kind::Reply => NoBooking { business, phone }.render(),
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
    }
}
