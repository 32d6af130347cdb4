// Reads an iCalendar object on stdin with Mozilla's ical.js; prints its events as JSON.
// The package is loaded from the directory in SLOTLINE_ORACLE_ICALJS (npm --prefix).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const dir = process.env.SLOTLINE_ORACLE_ICALJS;
const ICAL = (await import(pathToFileURL(join(dir, "node_modules/ical.js/dist/ical.js")))).default;
const text = readFileSync(0, "utf8");
const cal = new ICAL.Component(ICAL.parse(text));
const problems = [];
const events = cal.getAllSubcomponents("vevent").map((c) => {
  const ev = new ICAL.Event(c);
  for (const t of [ev.startDate, ev.endDate]) {
    // A floating time (no zone) would be read in whatever zone the reader is in.
    if (t.zone !== ICAL.Timezone.utcTimezone) problems.push(`${ev.uid}: ${t} is not UTC`);
  }
  return {
    uid: ev.uid,
    start: ev.startDate.toUnixTime(),
    end: ev.endDate.toUnixTime(),
    summary: ev.summary,
    status: c.getFirstPropertyValue("status"),
    sequence: ev.sequence,
  };
});
console.log(JSON.stringify({ events, problems, name: cal.getFirstPropertyValue("x-wr-calname") }));
