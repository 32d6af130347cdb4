//! The integration suite: one binary that spawns slotline on port 0 per test, with a temp
//! database and the fixtures' test key, and drives it as Telnyx and operators would.

mod admin;
mod booking;
mod call;
mod call_cli;
mod fake_telnyx;
mod helpers;
mod signatures;
mod sms;
mod sms_faults;
mod texml_cli;
mod texml_docs;
