package rules

import (
	"math/rand/v2"
	"testing"
	"time"

	outreach "github.com/outreach/outreach"
)

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

var (
	newYork = mustZone("America/New_York")
	berlin  = mustZone("Europe/Berlin")
	tokyo   = mustZone("Asia/Tokyo")
	lagos   = mustZone("Africa/Lagos")
)

// wall is a wall-clock time in loc.
func wall(loc *time.Location, y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, loc)
}

func utc(y int, m time.Month, d, h, min int) time.Time { return wall(time.UTC, y, m, d, h, min) }

func policyWith(edit func(*outreach.Policy)) outreach.Policy {
	p := outreach.DefaultPolicy()
	edit(&p)
	return p
}

var everyDay = policyWith(func(p *outreach.Policy) {
	p.SendDays = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
})

func TestNextSendTime(t *testing.T) {
	def := outreach.DefaultPolicy()
	thanksgiving := policyWith(func(p *outreach.Policy) { p.Holidays = []string{"2026-11-26", "2026-11-27"} })
	cases := []struct {
		name string
		t    time.Time
		loc  *time.Location
		p    outreach.Policy
		want time.Time // compared as instants
	}{
		{"inside the window is now", wall(newYork, 2026, 3, 10, 9, 30), newYork, def, wall(newYork, 2026, 3, 10, 9, 30)},
		{"start is inside", wall(newYork, 2026, 3, 10, 8, 0), newYork, def, wall(newYork, 2026, 3, 10, 8, 0)},
		{"end is outside", wall(newYork, 2026, 3, 10, 17, 0), newYork, def, wall(newYork, 2026, 3, 11, 8, 0)},
		{"early morning waits for 08:00", wall(newYork, 2026, 3, 10, 6, 15), newYork, def, wall(newYork, 2026, 3, 10, 8, 0)},
		// US spring forward, Sunday 2026-03-08 02:00 EST -> 03:00 EDT.
		{"US spring: Friday evening to Monday 08:00 EDT", wall(newYork, 2026, 3, 6, 18, 0), newYork, def, utc(2026, 3, 9, 12, 0)},
		{"US spring: Saturday to Sunday 08:00 EDT", wall(newYork, 2026, 3, 7, 20, 0), newYork, everyDay, utc(2026, 3, 8, 12, 0)},
		{"US spring: the night of the change", utc(2026, 3, 8, 6, 30), newYork, everyDay, utc(2026, 3, 8, 12, 0)},
		// US fall back, Sunday 2026-11-01 02:00 EDT -> 01:00 EST.
		{"US fall: Saturday to Sunday 08:00 EST", wall(newYork, 2026, 10, 31, 18, 0), newYork, everyDay, utc(2026, 11, 1, 13, 0)},
		{"US fall: Friday evening to Monday 08:00 EST", wall(newYork, 2026, 10, 30, 17, 30), newYork, def, utc(2026, 11, 2, 13, 0)},
		// EU spring forward, Sunday 2026-03-29 02:00 CET -> 03:00 CEST.
		{"EU spring: Saturday to Sunday 08:00 CEST", wall(berlin, 2026, 3, 28, 19, 0), berlin, everyDay, utc(2026, 3, 29, 6, 0)},
		{"EU spring: Friday to Monday 08:00 CEST", wall(berlin, 2026, 3, 27, 17, 0), berlin, def, utc(2026, 3, 30, 6, 0)},
		// EU fall back, Sunday 2026-10-25 03:00 CEST -> 02:00 CET.
		{"EU fall: Saturday to Sunday 08:00 CET", wall(berlin, 2026, 10, 24, 19, 0), berlin, everyDay, utc(2026, 10, 25, 7, 0)},
		{"EU fall: during the repeated hour", utc(2026, 10, 25, 0, 30), berlin, everyDay, utc(2026, 10, 25, 7, 0)},
		// The window is the recipient's: an applicant in Lagos, a contact in Tokyo.
		{"Lagos Monday 09:00 is Tokyo 17:00: next is Tuesday 08:00 JST", wall(lagos, 2026, 6, 1, 9, 0), tokyo, def, wall(tokyo, 2026, 6, 2, 8, 0)},
		{"Lagos Sunday 23:30 is Tokyo Monday 07:30", wall(lagos, 2026, 5, 31, 23, 30), tokyo, def, utc(2026, 5, 31, 23, 0)},
		{"Lagos Friday 08:30 is Tokyo Friday 16:30: now", wall(lagos, 2026, 6, 5, 8, 30), tokyo, def, wall(lagos, 2026, 6, 5, 8, 30)},
		{"Lagos Friday 10:00 is Tokyo Friday 18:00: Monday", wall(lagos, 2026, 6, 5, 10, 0), tokyo, def, wall(tokyo, 2026, 6, 8, 8, 0)},
		// Holidays are skipped.
		{"Thanksgiving and the Friday after", wall(newYork, 2026, 11, 25, 17, 0), newYork, thanksgiving, wall(newYork, 2026, 11, 30, 8, 0)},
		{"a holiday morning", wall(newYork, 2026, 11, 26, 7, 0), newYork, thanksgiving, wall(newYork, 2026, 11, 30, 8, 0)},
		{"nil zone is UTC", utc(2026, 6, 6, 12, 0), nil, def, utc(2026, 6, 8, 8, 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := NextSendTime(c.t, c.loc, c.p)
			if !got.Equal(c.want) {
				t.Errorf("NextSendTime(%s) = %s, want %s", c.t, got.In(zoneOr(c.loc)), c.want.In(zoneOr(c.loc)))
			}
			if !InSendWindow(got, c.loc, c.p) || got.Before(c.t) {
				t.Errorf("%s is not in the window, or before %s", got, c.t)
			}
		})
	}
}

func zoneOr(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}

func TestInSendWindow(t *testing.T) {
	def := outreach.DefaultPolicy()
	cases := []struct {
		name string
		t    time.Time
		loc  *time.Location
		p    outreach.Policy
		want bool
	}{
		{"Monday 08:00", wall(berlin, 2026, 3, 30, 8, 0), berlin, def, true},
		{"Monday 07:59", wall(berlin, 2026, 3, 30, 7, 59), berlin, def, false},
		{"Monday 16:59", wall(berlin, 2026, 3, 30, 16, 59), berlin, def, true},
		{"Monday 17:00", wall(berlin, 2026, 3, 30, 17, 0), berlin, def, false},
		{"Saturday noon", wall(berlin, 2026, 3, 28, 12, 0), berlin, def, false},
		{"Saturday noon, every day sends", wall(berlin, 2026, 3, 28, 12, 0), berlin, everyDay, true},
		{"a holiday", wall(berlin, 2026, 12, 25, 10, 0), berlin, policyWith(func(p *outreach.Policy) { p.Holidays = []string{"2026-12-25"} }), false},
		{"Lagos 10:00 is Tokyo 18:00", wall(lagos, 2026, 6, 2, 10, 0), tokyo, def, false},
		{"Lagos 01:00 is Tokyo 09:00", wall(lagos, 2026, 6, 2, 1, 0), tokyo, def, true},
		{"the day after US spring forward, 08:00 EDT", utc(2026, 3, 9, 12, 0), newYork, def, true},
		{"the day after US spring forward, 08:00 EST would be 09:00", utc(2026, 3, 9, 13, 0), newYork, def, true},
		{"the day after US spring forward, 07:00 EDT", utc(2026, 3, 9, 11, 0), newYork, def, false},
		{"custom window 09:30-11:00", wall(tokyo, 2026, 6, 2, 9, 15), tokyo,
			policyWith(func(p *outreach.Policy) { p.SendStart, p.SendEnd = "09:30", "11:00" }), false},
		{"invalid window falls back to the default", wall(tokyo, 2026, 6, 2, 9, 15), tokyo,
			policyWith(func(p *outreach.Policy) { p.SendStart = "25:00" }), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := InSendWindow(c.t, c.loc, c.p); got != c.want {
				t.Errorf("InSendWindow(%s in %s) = %v, want %v", c.t, c.loc, got, c.want)
			}
		})
	}
}

func TestAddDays(t *testing.T) {
	cal := outreach.DefaultPolicy()
	bd := policyWith(func(p *outreach.Policy) { p.BusinessDays = true })
	bdHolidays := policyWith(func(p *outreach.Policy) {
		p.BusinessDays = true
		p.Holidays = []string{"2026-12-24", "2026-12-25", "2027-01-01"}
	})
	cases := []struct {
		name string
		t    time.Time
		n    int
		loc  *time.Location
		p    outreach.Policy
		want time.Time
	}{
		{"calendar week", wall(newYork, 2026, 6, 1, 10, 0), 7, newYork, cal, wall(newYork, 2026, 6, 8, 10, 0)},
		{"across US spring forward keeps 10:00", wall(newYork, 2026, 3, 2, 10, 0), 7, newYork, cal, utc(2026, 3, 9, 14, 0)},
		{"across US fall back keeps 10:00", wall(newYork, 2026, 10, 28, 10, 0), 7, newYork, cal, utc(2026, 11, 4, 15, 0)},
		{"across EU spring forward keeps 09:00", wall(berlin, 2026, 3, 28, 9, 0), 1, berlin, cal, utc(2026, 3, 29, 7, 0)},
		{"across EU fall back keeps 09:00", wall(berlin, 2026, 10, 24, 9, 0), 1, berlin, cal, utc(2026, 10, 25, 8, 0)},
		{"the date is the recipient's", wall(lagos, 2026, 6, 5, 20, 0), 1, tokyo, cal, wall(tokyo, 2026, 6, 7, 4, 0)},
		{"zero days", wall(newYork, 2026, 6, 1, 10, 0), 0, newYork, bd, wall(newYork, 2026, 6, 1, 10, 0)},
		{"Friday plus one working day is Monday", wall(newYork, 2026, 6, 5, 10, 0), 1, newYork, bd, wall(newYork, 2026, 6, 8, 10, 0)},
		{"Monday plus five working days is Monday", wall(newYork, 2026, 6, 1, 10, 0), 5, newYork, bd, wall(newYork, 2026, 6, 8, 10, 0)},
		{"Saturday plus one working day is Monday", wall(newYork, 2026, 6, 6, 10, 0), 1, newYork, bd, wall(newYork, 2026, 6, 8, 10, 0)},
		{"seven working days over a weekend", wall(berlin, 2026, 3, 25, 9, 0), 7, berlin, bd, wall(berlin, 2026, 4, 3, 9, 0)},
		{"over Christmas and New Year", wall(berlin, 2026, 12, 23, 9, 0), 7, berlin, bdHolidays, wall(berlin, 2027, 1, 6, 9, 0)},
		{"backwards over a weekend", wall(berlin, 2026, 6, 8, 9, 0), -1, berlin, bd, wall(berlin, 2026, 6, 5, 9, 0)},
		{"calendar days ignore holidays", wall(berlin, 2026, 12, 23, 9, 0), 2, berlin, policyWith(func(p *outreach.Policy) {
			p.Holidays = []string{"2026-12-24"}
		}), wall(berlin, 2026, 12, 25, 9, 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := AddDays(c.t, c.n, c.loc, c.p)
			if !got.Equal(c.want) {
				t.Errorf("AddDays(%s, %d) = %s, want %s", c.t, c.n, got, c.want.In(c.loc))
			}
		})
	}
}

func TestResumeAfterReturn(t *testing.T) {
	c := newCalendar(newYork, policyWith(func(p *outreach.Policy) { p.Holidays = []string{"2026-07-03"} }))
	cases := []struct {
		name string
		ret  time.Time
		n    int
		want time.Time
	}{
		{"back Monday, two days to catch up", wall(newYork, 2026, 6, 8, 0, 0), 2, wall(newYork, 2026, 6, 10, 0, 0)},
		{"back Saturday counts from Monday", wall(newYork, 2026, 6, 6, 0, 0), 2, wall(newYork, 2026, 6, 10, 0, 0)},
		{"back Thursday, over the weekend", wall(newYork, 2026, 6, 11, 0, 0), 2, wall(newYork, 2026, 6, 15, 0, 0)},
		{"back Thursday before a Friday holiday", wall(newYork, 2026, 7, 2, 0, 0), 2, wall(newYork, 2026, 7, 7, 0, 0)},
		{"zero days: the first working day", wall(newYork, 2026, 6, 6, 0, 0), 0, wall(newYork, 2026, 6, 8, 0, 0)},
		{"a UTC calendar date is read as that date", utc(2026, 6, 8, 0, 0), 2, wall(newYork, 2026, 6, 10, 0, 0)},
		{"a stored instant is read on the contact's calendar", wall(newYork, 2026, 6, 8, 0, 0).UTC(), 2, wall(newYork, 2026, 6, 10, 0, 0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.resumeAfterReturn(tc.ret, tc.n); !got.Equal(tc.want) {
				t.Errorf("resumeAfterReturn(%s, %d) = %s, want %s", tc.ret, tc.n, got, tc.want)
			}
		})
	}
}

func TestDayArithmetic(t *testing.T) {
	for _, tm := range []time.Time{utc(1969, 12, 31, 0, 0), utc(1970, 1, 1, 0, 0), utc(2026, 3, 8, 0, 0), utc(2400, 2, 29, 0, 0)} {
		d := dayOf(tm)
		if y, m, dd := d.date(); y != tm.Year() || m != tm.Month() || dd != tm.Day() || d.weekday() != tm.Weekday() {
			t.Errorf("%s: day %d is %d-%d-%d %s", tm, d, y, m, dd, d.weekday())
		}
	}
}

// TestWindowProperties: over random instants, zones and policies,
// NextSendTime is the first instant of a window at or after t, and AddDays
// keeps the wall-clock time and undoes itself.
func TestWindowProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 2026))
	for i := range 2000 {
		s := pcgSource{r}
		p, loc := genPolicy(s), pick(s, randomZones...)
		at := utc(2026, 1, 1, 0, 0).Add(time.Duration(r.IntN(366*24*60)) * time.Minute)
		next := NextSendTime(at, loc, p)
		if next.Before(at) || !InSendWindow(next, loc, p) {
			t.Fatalf("case %d: NextSendTime(%s, %s) = %s: before t or outside the window", i, at, loc, next)
		}
		for probe := at.Truncate(30 * time.Minute).Add(30 * time.Minute); probe.Before(next); probe = probe.Add(30 * time.Minute) {
			if InSendWindow(probe, loc, p) {
				t.Fatalf("case %d: NextSendTime(%s, %s) = %s, but %s is in the window", i, at, loc, next, probe)
			}
		}
		n := r.IntN(30)
		fwd := AddDays(at, n, loc, p)
		la, lf := at.In(loc), fwd.In(loc)
		skipped := time.Date(lf.Year(), lf.Month(), lf.Day(), la.Hour(), la.Minute(), 0, 0, loc).Hour() != la.Hour()
		if (lf.Hour() != la.Hour() || lf.Minute() != la.Minute()) && !skipped {
			t.Fatalf("case %d: AddDays(%s, %d, %s) = %s changed the wall clock", i, la, n, loc, lf)
		}
		days := int(dayOf(lf) - dayOf(la))
		if business := p.Effective().BusinessDays; (!business && days != n && !skipped) || (business && days < n) {
			t.Fatalf("case %d: AddDays(%s, %d, %s) = %s is %d days on", i, la, n, loc, lf, days)
		}
	}
}
