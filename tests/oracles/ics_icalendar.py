"""Reads an iCalendar object on stdin with the `icalendar` package; prints its events as JSON."""
import datetime
import json
import sys

import icalendar

cal = icalendar.Calendar.from_ical(sys.stdin.buffer.read())
events = []
problems = [str(e) for e in getattr(cal, "errors", [])]
for ev in cal.walk("VEVENT"):
    problems += [str(e) for e in getattr(ev, "errors", [])]
    start = ev.decoded("DTSTART")
    end = ev.decoded("DTEND")
    for t in (start, end):
        if not isinstance(t, datetime.datetime) or t.tzinfo is None:
            problems.append(f"{ev.get('UID')}: {t!r} is not an absolute date-time")
    events.append(
        {
            "uid": str(ev["UID"]),
            "start": int(start.timestamp()),
            "end": int(end.timestamp()),
            "summary": str(ev["SUMMARY"]),
            "status": str(ev["STATUS"]),
            "sequence": int(ev.decoded("SEQUENCE")),
        }
    )
print(json.dumps({"events": events, "problems": problems, "name": str(cal.get("X-WR-CALNAME"))}))
