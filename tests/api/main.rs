//! The integration suite: one binary that spawns slotline on port 0 per test, with a temp
//! database and the fixtures' test key, and drives it as Telnyx and operators would.

mod admin;
mod backup;
mod booking;
mod call;
mod call_cli;
mod console;
mod console_browser;
mod crash;
mod fake_calls;
mod fake_inference;
mod fake_telnyx;
mod faults;
mod feeds;
mod hardening;
mod helpers;
mod intents;
mod metrics;
mod oracles;
mod paging;
mod postgres;
mod ready;
mod reminder_calls;
mod retention;
mod retired;
mod signatures;
mod sms;
mod sms_faults;
mod sms_replies;
mod sms_wording;
mod tenant_documents;
mod texml_cli;
mod texml_docs;
mod webhook_faults;
mod webhook_receiver;
mod webhooks;
