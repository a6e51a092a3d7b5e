package rules

import (
	"time"

	outreach "github.com/outreach/outreach"
)

// CooldownEnd is when someone whose thread closed without response at
// closedAt may be written to again: cooldown_days calendar days later, at the
// same wall-clock time on the recipient's calendar. The planner passes it to
// Decide as Thread.CooldownUntil for the person's next thread.
func CooldownEnd(closedAt time.Time, loc *time.Location, p outreach.Policy) time.Time {
	c := newCalendar(loc, p)
	return c.shift(closedAt, p.Effective().CooldownDays, false)
}
