package rules

import (
	"fmt"
	"time"

	outreach "github.com/outreach/outreach"
)

// Send windows and day counts. Everything is computed on the recipient's
// local calendar dates and wall-clock times, never by adding multiples of
// 24 hours: across a daylight-saving change "08:00 the next day" stays
// 08:00, as the recipient reads it (the IANA zone rules do the rest).

// InSendWindow reports whether t falls inside the policy's send window in
// loc: a send day that is not a holiday, at or after send_start and before
// send_end, wall-clock time.
func InSendWindow(t time.Time, loc *time.Location, p outreach.Policy) bool {
	return newCalendar(loc, p).inWindow(t)
}

// NextSendTime returns t when it is inside the send window, else the start
// of the next send window in loc: the same day's send_start when t is before
// it, else send_start on the next send day that is not a holiday.
func NextSendTime(t time.Time, loc *time.Location, p outreach.Policy) time.Time {
	return newCalendar(loc, p).nextSendTime(t)
}

// AddDays moves t by n days in loc, keeping its wall-clock time: calendar
// days, or working days (Monday to Friday, not a holiday) when
// p.BusinessDays. Counting working days from a weekend starts on Monday.
func AddDays(t time.Time, n int, loc *time.Location, p outreach.Policy) time.Time {
	c := newCalendar(loc, p)
	return c.shift(t, n, c.business)
}

// calendar is a policy compiled for one recipient's zone, so that a decision
// parses the policy once.
type calendar struct {
	loc        *time.Location
	sendDays   [7]bool
	start, end time.Duration
	holidays   map[day]bool
	business   bool
}

// newCalendar compiles the effective policy (invalid keys fall back to their
// defaults) for loc; nil means UTC.
func newCalendar(loc *time.Location, p outreach.Policy) calendar {
	return compileCalendar(loc, p.Effective())
}

// compileCalendar compiles a policy that is already effective.
func compileCalendar(loc *time.Location, p outreach.Policy) calendar {
	if loc == nil {
		loc = time.UTC
	}
	c := calendar{loc: loc, sendDays: p.SendWeekdays(), business: p.BusinessDays}
	c.start, _ = outreach.ParseClock(p.SendStart)
	c.end, _ = outreach.ParseClock(p.SendEnd)
	c.holidays = make(map[day]bool, len(p.Holidays))
	for _, s := range p.Holidays {
		if h, err := time.Parse(time.DateOnly, s); err == nil {
			c.holidays[dayOf(h)] = true
		}
	}
	return c
}

func (c calendar) inWindow(t time.Time) bool {
	lt := t.In(c.loc)
	clock := clockOf(lt)
	return c.isSendDay(dayOf(lt)) && clock >= c.start && clock < c.end
}

func (c calendar) nextSendTime(t time.Time) time.Time {
	if c.inWindow(t) {
		return t
	}
	// Holidays are finite and at least one weekday is a send day (Effective
	// guarantees it), so a window opens within this bound. A send_start that
	// a spring-forward skips (Go moves it an hour on) is used only if it
	// still falls inside the window.
	d := dayOf(t.In(c.loc))
	for range 7*(len(c.holidays)+2) + 1 {
		if start := c.at(d, c.start); c.isSendDay(d) && start.After(t) && c.inWindow(start) {
			return start
		}
		d++
	}
	return c.at(d, c.start)
}

// shift moves t by n calendar days, or n working days when business, on
// loc's calendar, keeping the wall-clock time.
func (c calendar) shift(t time.Time, n int, business bool) time.Time {
	lt := t.In(c.loc)
	d := dayOf(lt)
	if !business {
		d += day(n)
	} else {
		d = c.addWorkingDays(d, n)
	}
	y, m, dd := d.date()
	return time.Date(y, m, dd, lt.Hour(), lt.Minute(), lt.Second(), lt.Nanosecond(), c.loc)
}

// addWorkingDays steps from d over n working days (backwards when n < 0).
func (c calendar) addWorkingDays(d day, n int) day {
	step := day(1)
	if n < 0 {
		step, n = -1, -n
	}
	for ; n > 0; n-- {
		d += step
		for !c.isWorkingDay(d) {
			d += step
		}
	}
	return d
}

// resumeAfterReturn is when a thread paused by an out-of-office reply
// resumes: 00:00 after the person has been back for n full working days,
// counting from the first working day on or after the return date.
func (c calendar) resumeAfterReturn(ret time.Time, n int) time.Time {
	d := returnDay(ret, c.loc)
	for !c.isWorkingDay(d) {
		d++
	}
	return c.at(c.addWorkingDays(d, n), 0)
}

// returnDay reads a return date. It should be 00:00 in the contact's zone;
// a value at 00:00 in its own location (such as a UTC calendar date) is read
// in that location, anything else on the contact's calendar.
func returnDay(ret time.Time, loc *time.Location) day {
	if clockOf(ret) == 0 {
		return dayOf(ret)
	}
	return dayOf(ret.In(loc))
}

func (c calendar) isSendDay(d day) bool { return c.sendDays[d.weekday()] && !c.holidays[d] }

func (c calendar) isWorkingDay(d day) bool {
	wd := d.weekday()
	return wd != time.Saturday && wd != time.Sunday && !c.holidays[d]
}

// at is the wall-clock time clock on day d in the calendar's zone. A time
// that does not exist (a spring-forward gap) is moved forward by Go's rules.
func (c calendar) at(d day, clock time.Duration) time.Time {
	y, m, dd := d.date()
	h, rest := clock/time.Hour, clock%time.Hour
	return time.Date(y, m, dd, int(h), int(rest/time.Minute), int(rest%time.Minute/time.Second), int(rest%time.Second), c.loc)
}

// day is a calendar date, as days since 1970-01-01: free of zones and DST.
type day int64

// dayOf is the date of t in t's own location.
func dayOf(t time.Time) day {
	y, m, d := t.Date()
	return day(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// String formats d as YYYY-MM-DD.
func (d day) String() string {
	y, m, dd := d.date()
	return fmt.Sprintf("%04d-%02d-%02d", y, int(m), dd)
}

func (d day) date() (int, time.Month, int) { return time.Unix(int64(d)*86400, 0).UTC().Date() }

// weekday: 1970-01-01 was a Thursday.
func (d day) weekday() time.Weekday { return time.Weekday(((int64(d)+4)%7 + 7) % 7) }

// clockOf is the wall-clock time of t since its local midnight.
func clockOf(t time.Time) time.Duration {
	h, m, s := t.Clock()
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second +
		time.Duration(t.Nanosecond())
}
