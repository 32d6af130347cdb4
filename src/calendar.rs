//! A tenant's appointments as an iCalendar subscription feed, written through
//! [`crate::ics::Writer`] (nothing here escapes or folds). One VEVENT per appointment with a
//! UID stable for its life, DTSTART/DTEND in UTC, SEQUENCE from the database (raised on
//! every move and cancellation), STATUS CONFIRMED, TENTATIVE while held, CANCELLED (the
//! query keeps those for [`CANCELLED_KEPT_DAYS`]); SUMMARY as much as the feed's
//! [`Detail`] allows. DTSTAMP is the appointment's last change, not the time of the
//! request, so an unchanged calendar is byte for byte the same and its ETag holds.

use crate::{db::feeds::FeedEvent, ics::Writer};

/// Days a feed looks back.
pub const DAYS_BACK: i64 = 30;
/// Days a cancelled appointment stays in feeds as STATUS:CANCELLED before it is dropped.
pub const CANCELLED_KEPT_DAYS: i64 = 7;
/// How often clients are asked to refresh (RFC 7986 REFRESH-INTERVAL, Outlook's
/// X-PUBLISHED-TTL).
pub const REFRESH: &str = "PT1H";

/// How much of an appointment a feed shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Service, caller's name, provider and number.
    Full,
    /// Service, caller's initials and provider.
    Initials,
    /// Only that the time is taken.
    Busy,
}

impl Detail {
    /// Parses `full`, `initials` or `busy`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full" => Some(Self::Full),
            "initials" => Some(Self::Initials),
            "busy" => Some(Self::Busy),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Initials => "initials",
            Self::Busy => "busy",
        }
    }
}

/// "M. L." for "Maria Lopez": the first character of each word, upper-cased, with a dot.
pub fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|w| w.chars().next())
        .map(|c| format!("{}.", c.to_uppercase()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The SUMMARY of `e` at `detail`.
pub fn summary(e: &FeedEvent, detail: Detail) -> String {
    match detail {
        Detail::Full => format!("{} — {}", e.service, e.customer_name.trim()),
        Detail::Initials => format!("{} — {}", e.service, initials(&e.customer_name)),
        Detail::Busy => "Busy".into(),
    }
}

/// What is needed to write one feed.
pub struct Calendar<'a> {
    /// X-WR-CALNAME and NAME.
    pub name: &'a str,
    /// The host part of every UID (`appt-<id>@<uid_domain>`).
    pub uid_domain: &'a str,
    /// How much each event shows.
    pub detail: Detail,
    /// The events, in order.
    pub events: &'a [FeedEvent],
}

/// The feed as an iCalendar object.
pub fn render(cal: &Calendar) -> String {
    let mut w = Writer::new();
    w.begin("VCALENDAR");
    w.raw("VERSION", "2.0");
    w.raw("PRODID", "-//slotline//calendar feed//EN");
    w.raw("CALSCALE", "GREGORIAN");
    w.raw("METHOD", "PUBLISH");
    w.text("X-WR-CALNAME", cal.name);
    w.text("NAME", cal.name);
    w.raw("REFRESH-INTERVAL;VALUE=DURATION", REFRESH);
    w.raw("X-PUBLISHED-TTL", REFRESH);
    for e in cal.events {
        w.begin("VEVENT");
        w.raw("UID", &format!("appt-{}@{}", e.id, cal.uid_domain));
        w.utc("DTSTAMP", e.updated_at.max(e.created_at));
        w.utc("LAST-MODIFIED", e.updated_at.max(e.created_at));
        w.utc("CREATED", e.created_at);
        w.utc("DTSTART", e.start_at);
        w.utc("DTEND", e.end_at);
        w.raw("SEQUENCE", &e.sequence.to_string());
        w.raw(
            "STATUS",
            match e.status.as_str() {
                "held" => "TENTATIVE",
                "cancelled" => "CANCELLED",
                _ => "CONFIRMED",
            },
        );
        w.text("SUMMARY", &summary(e, cal.detail));
        match cal.detail {
            Detail::Full => {
                let mut about = format!("Provider: {}", e.provider);
                if let Some(phone) = &e.customer_phone {
                    about.push_str(&format!("\nPhone: {phone}"));
                }
                w.text("DESCRIPTION", &about);
            }
            Detail::Initials => w.text("DESCRIPTION", &format!("Provider: {}", e.provider)),
            Detail::Busy => w.raw("CLASS", "PRIVATE"),
        }
        w.raw("TRANSP", "OPAQUE");
        w.end("VEVENT");
    }
    w.end("VCALENDAR");
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, status: &str) -> FeedEvent {
        FeedEvent {
            id: 7,
            service: "Haircut".into(),
            provider: "Anna".into(),
            customer_name: name.into(),
            customer_phone: Some("+13125550199".into()),
            start_at: 1_795_186_800,
            end_at: 1_795_189_500,
            status: status.into(),
            sequence: 2,
            updated_at: 1_795_100_000,
            created_at: 1_795_000_000,
        }
    }

    #[test]
    fn summaries_follow_the_detail() {
        let e = event("Maria Lopez", "booked");
        assert_eq!(summary(&e, Detail::Full), "Haircut — Maria Lopez");
        assert_eq!(summary(&e, Detail::Initials), "Haircut — M. L.");
        assert_eq!(summary(&e, Detail::Busy), "Busy");
        assert_eq!(initials("  josé  de la cruz "), "J. D. L. C.");
    }

    #[test]
    fn a_feed_has_the_required_properties_and_utc_times() {
        let events = [event("Maria Lopez", "held"), event("Ann", "cancelled")];
        let doc = render(&Calendar {
            name: "Salon — Anna",
            uid_domain: "booking.example.com",
            detail: Detail::Full,
            events: &events,
        });
        assert!(doc.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:"));
        assert!(doc.ends_with("END:VCALENDAR\r\n"));
        for needle in [
            "UID:appt-7@booking.example.com\r\n",
            "DTSTART:20261120T150000Z\r\n",
            "DTEND:20261120T154500Z\r\n",
            "SEQUENCE:2\r\n",
            "STATUS:TENTATIVE\r\n",
            "STATUS:CANCELLED\r\n",
            "SUMMARY:Haircut — Maria Lopez\r\n",
            "DESCRIPTION:Provider: Anna\\nPhone: +13125550199\r\n",
            "X-WR-CALNAME:Salon — Anna\r\n",
            "REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n",
            "X-PUBLISHED-TTL:PT1H\r\n",
        ] {
            assert!(doc.contains(needle), "{needle:?} missing from\n{doc}");
        }
    }

    #[test]
    fn a_busy_feed_shows_no_name_provider_or_number() {
        let events = [event("Maria Lopez", "booked")];
        let doc = render(&Calendar {
            name: "Busy",
            uid_domain: "x",
            detail: Detail::Busy,
            events: &events,
        });
        for secret in ["Maria", "Anna", "5550199", "Haircut"] {
            assert!(!doc.contains(secret), "{secret} in\n{doc}");
        }
    }
}
