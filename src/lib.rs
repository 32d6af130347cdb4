//! slotline: a multi-tenant AI phone line for appointment businesses, served as Telnyx
//! TeXML. See README.md for the public contract.

pub mod agenda;
pub mod body;
pub mod booking;
pub mod calendar;
pub mod call;
pub mod calllog;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod db;
pub mod demo;
pub mod directory;
pub mod domain;
pub mod error;
pub mod feeds;
pub mod flow;
pub mod ics;
pub mod inference;
pub mod reminder_calls;
pub mod replay;
pub mod routes;
pub mod serve;
pub mod signature;
pub mod sms;
pub mod startup;
pub mod supervise;
pub mod telemetry;
pub mod tenant_changes;
pub mod texml;
pub mod token;
pub mod webhooks;
pub mod wording;
