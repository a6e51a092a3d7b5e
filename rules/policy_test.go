package rules

import (
	"testing"
	"time"

	outreach "github.com/outreach/outreach"
)

func TestCooldownEnd(t *testing.T) {
	bd := policyWith(func(p *outreach.Policy) { p.BusinessDays, p.CooldownDays = true, 30 })
	cases := []struct {
		name     string
		closedAt time.Time
		loc      *time.Location
		p        outreach.Policy
		want     time.Time
	}{
		{"180 days, across fall back", wall(newYork, 2026, 6, 1, 10, 0), newYork, outreach.DefaultPolicy(), wall(newYork, 2026, 11, 28, 10, 0)},
		{"calendar days even when the policy counts working days", wall(berlin, 2026, 6, 1, 10, 0), berlin, bd, wall(berlin, 2026, 7, 1, 10, 0)},
		{"no cooldown", wall(tokyo, 2026, 6, 1, 10, 0), tokyo, policyWith(func(p *outreach.Policy) { p.CooldownDays = 0 }), wall(tokyo, 2026, 6, 1, 10, 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := CooldownEnd(c.closedAt, c.loc, c.p); !got.Equal(c.want) {
				t.Errorf("CooldownEnd = %s, want %s", got, c.want)
			}
		})
	}
}
