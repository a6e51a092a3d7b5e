package outreach

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Policy is the follow-up policy: the [policy] section of the configuration,
// merged with a contact's overrides (With). Key names are a contract with
// users' files: see the README's configuration reference. Decode the
// section into DefaultPolicy() so that a missing key keeps its default.
// Package rules reads it; nothing here reads the clock.
type Policy struct {
	// FollowUpAfterDays is the silence after the initial email before one
	// follow-up may be proposed.
	FollowUpAfterDays int `toml:"follow_up_after_days" json:"follow_up_after_days"`
	// BusinessDays counts only Monday to Friday, holidays excluded, in every
	// day count of the policy.
	BusinessDays bool `toml:"business_days" json:"business_days"`
	// CloseAfterDays is the silence after the follow-up before the thread
	// closes with no response.
	CloseAfterDays int `toml:"close_after_days" json:"close_after_days"`
	// ResumeAfterReturnDays is how many working days after an out-of-office
	// return date the thread resumes: people need time to clear their inbox.
	ResumeAfterReturnDays int `toml:"resume_after_return_days" json:"resume_after_return_days"`
	// CooldownDays is how long after a thread closed without response
	// nothing is proposed to the same person.
	CooldownDays int `toml:"cooldown_days" json:"cooldown_days"`
	// DailySendCap is the most follow-ups sent per account per day.
	DailySendCap int `toml:"daily_send_cap" json:"daily_send_cap"`
	// SendDays are the weekdays mail may go out, as "mon".."sun".
	SendDays []string `toml:"send_days" json:"send_days"`
	// SendStart and SendEnd bound the send window, "HH:MM" in the
	// recipient's time zone: [SendStart, SendEnd).
	SendStart string `toml:"send_start" json:"send_start"`
	SendEnd   string `toml:"send_end" json:"send_end"`
	// Holidays are "YYYY-MM-DD" days, in the recipient's calendar, on which
	// nothing is sent and which business days do not count.
	Holidays []string `toml:"holidays" json:"holidays"`
	// DraftExpiresAfterDays is how long a proposed follow-up waits for
	// approval before the thread closes without it.
	DraftExpiresAfterDays int `toml:"draft_expires_after_days" json:"draft_expires_after_days"`
	// FollowUpWindowDays is how long after it fell due a follow-up may
	// still be proposed; later it is too late, and the thread closes
	// without one (an old email found only now). 0: no limit.
	FollowUpWindowDays int `toml:"follow_up_window_days" json:"follow_up_window_days"`
}

// PolicyOverride is a per-contact change to the policy: a nil field keeps
// the policy's value. Its keys are the Policy keys.
type PolicyOverride struct {
	FollowUpAfterDays     *int      `toml:"follow_up_after_days,omitempty" json:"follow_up_after_days,omitempty"`
	BusinessDays          *bool     `toml:"business_days,omitempty" json:"business_days,omitempty"`
	CloseAfterDays        *int      `toml:"close_after_days,omitempty" json:"close_after_days,omitempty"`
	ResumeAfterReturnDays *int      `toml:"resume_after_return_days,omitempty" json:"resume_after_return_days,omitempty"`
	CooldownDays          *int      `toml:"cooldown_days,omitempty" json:"cooldown_days,omitempty"`
	DailySendCap          *int      `toml:"daily_send_cap,omitempty" json:"daily_send_cap,omitempty"`
	SendDays              *[]string `toml:"send_days,omitempty" json:"send_days,omitempty"`
	SendStart             *string   `toml:"send_start,omitempty" json:"send_start,omitempty"`
	SendEnd               *string   `toml:"send_end,omitempty" json:"send_end,omitempty"`
	Holidays              *[]string `toml:"holidays,omitempty" json:"holidays,omitempty"`
	DraftExpiresAfterDays *int      `toml:"draft_expires_after_days,omitempty" json:"draft_expires_after_days,omitempty"`
	FollowUpWindowDays    *int      `toml:"follow_up_window_days,omitempty" json:"follow_up_window_days,omitempty"`
}

// DefaultPolicy is the policy the product promises: one follow-up after a
// week of silence, on weekdays, in office hours.
func DefaultPolicy() Policy {
	return Policy{
		FollowUpAfterDays:     7,
		CloseAfterDays:        14,
		ResumeAfterReturnDays: 2,
		CooldownDays:          180,
		DailySendCap:          10,
		SendDays:              []string{"mon", "tue", "wed", "thu", "fri"},
		SendStart:             "08:00",
		SendEnd:               "17:00",
		Holidays:              []string{},
		DraftExpiresAfterDays: 5,
		FollowUpWindowDays:    14,
	}
}

// With returns p changed by the override's set fields. Slices are copied, so
// the result shares no memory with p or o.
func (p Policy) With(o PolicyOverride) Policy {
	setInt(&p.FollowUpAfterDays, o.FollowUpAfterDays)
	if o.BusinessDays != nil {
		p.BusinessDays = *o.BusinessDays
	}
	setInt(&p.CloseAfterDays, o.CloseAfterDays)
	setInt(&p.ResumeAfterReturnDays, o.ResumeAfterReturnDays)
	setInt(&p.CooldownDays, o.CooldownDays)
	setInt(&p.DailySendCap, o.DailySendCap)
	p.SendDays = slices.Clone(p.SendDays)
	if o.SendDays != nil {
		p.SendDays = slices.Clone(*o.SendDays)
	}
	if o.SendStart != nil {
		p.SendStart = *o.SendStart
	}
	if o.SendEnd != nil {
		p.SendEnd = *o.SendEnd
	}
	p.Holidays = slices.Clone(p.Holidays)
	if o.Holidays != nil {
		p.Holidays = slices.Clone(*o.Holidays)
	}
	setInt(&p.DraftExpiresAfterDays, o.DraftExpiresAfterDays)
	setInt(&p.FollowUpWindowDays, o.FollowUpWindowDays)
	return p
}

func setInt(dst *int, v *int) {
	if v != nil {
		*dst = *v
	}
}

// policyKey is one [policy] key: how to check it and how to put its default
// back. check returns "" when the value is valid, else what is wrong.
type policyKey struct {
	name  string
	check func(p Policy) string
	reset func(p *Policy, def Policy)
}

// policyKeys lists the keys in the order Validate reports them. The day
// ranges keep the product's promise: a follow-up sooner than five days
// looks pushy, whatever a configuration says.
var policyKeys = []policyKey{
	intKey("follow_up_after_days", 5, 90, func(p *Policy) *int { return &p.FollowUpAfterDays }),
	intKey("close_after_days", 1, 365, func(p *Policy) *int { return &p.CloseAfterDays }),
	intKey("resume_after_return_days", 0, 30, func(p *Policy) *int { return &p.ResumeAfterReturnDays }),
	intKey("cooldown_days", 0, 3650, func(p *Policy) *int { return &p.CooldownDays }),
	intKey("daily_send_cap", 1, 500, func(p *Policy) *int { return &p.DailySendCap }),
	{"send_days", checkSendDays, func(p *Policy, d Policy) { p.SendDays = d.SendDays }},
	{"send_start", func(p Policy) string { return checkClock(p.SendStart) },
		func(p *Policy, d Policy) { p.SendStart, p.SendEnd = d.SendStart, d.SendEnd }},
	{"send_end", checkSendEnd, func(p *Policy, d Policy) { p.SendStart, p.SendEnd = d.SendStart, d.SendEnd }},
	{"holidays", checkHolidays, func(p *Policy, d Policy) { p.Holidays = validHolidays(p.Holidays) }},
	intKey("draft_expires_after_days", 1, 60, func(p *Policy) *int { return &p.DraftExpiresAfterDays }),
	intKey("follow_up_window_days", 0, 365, func(p *Policy) *int { return &p.FollowUpWindowDays }),
}

func intKey(name string, lo, hi int, field func(*Policy) *int) policyKey {
	return policyKey{
		name: name,
		check: func(p Policy) string {
			if v := *field(&p); v < lo || v > hi {
				return fmt.Sprintf("%d is not between %d and %d", v, lo, hi)
			}
			return ""
		},
		reset: func(p *Policy, d Policy) { *field(p) = *field(&d) },
	}
}

// PolicyProblem is one invalid [policy] key and what is wrong with it.
type PolicyProblem struct {
	Key     string // such as "send_start"
	Problem string // such as `"25:00" is not HH:MM`
}

// Problems lists every invalid key, in the order of the keys.
func (p Policy) Problems() []PolicyProblem {
	var out []PolicyProblem
	for _, k := range policyKeys {
		if msg := k.check(p); msg != "" {
			out = append(out, PolicyProblem{Key: k.name, Problem: msg})
		}
	}
	return out
}

// PolicyKeys are the names of the [policy] keys.
func PolicyKeys() []string {
	out := make([]string, len(policyKeys))
	for i, k := range policyKeys {
		out[i] = k.name
	}
	return out
}

// Validate reports the first invalid key as a KindInvalid error naming it,
// such as `policy.send_start: "25:00" is not HH:MM`.
func (p Policy) Validate() error {
	if probs := p.Problems(); len(probs) > 0 {
		return Errorf(KindInvalid, "policy.%s: %s", probs[0].Key, probs[0].Problem)
	}
	return nil
}

// Effective returns p with every invalid key replaced by its default (and
// invalid holidays dropped); the zero Policy, which no configuration means,
// is DefaultPolicy. So a missing or broken policy never makes the rules more
// eager than the defaults. Callers validate first; the rules use Effective
// so that they stay safe when someone did not.
func (p Policy) Effective() Policy {
	def := DefaultPolicy()
	if reflect.ValueOf(p).IsZero() {
		return def
	}
	for _, k := range policyKeys {
		if k.check(p) != "" {
			k.reset(&p, def)
		}
	}
	return p
}

func checkSendDays(p Policy) string {
	if len(p.SendDays) == 0 {
		return "no day to send on"
	}
	seen := map[time.Weekday]bool{}
	for _, s := range p.SendDays {
		d, ok := ParseWeekday(s)
		if !ok {
			return fmt.Sprintf("%q is not a weekday (mon..sun)", s)
		}
		if seen[d] {
			return fmt.Sprintf("%q is listed twice", s)
		}
		seen[d] = true
	}
	return ""
}

func checkClock(s string) string {
	if _, ok := ParseClock(s); !ok {
		return fmt.Sprintf("%q is not HH:MM", s)
	}
	return ""
}

func checkSendEnd(p Policy) string {
	if msg := checkClock(p.SendEnd); msg != "" {
		return msg
	}
	start, okStart := ParseClock(p.SendStart)
	end, _ := ParseClock(p.SendEnd)
	if okStart && end <= start {
		return fmt.Sprintf("%q is not after send_start %q", p.SendEnd, p.SendStart)
	}
	return ""
}

func checkHolidays(p Policy) string {
	for _, s := range p.Holidays {
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			return fmt.Sprintf("%q is not YYYY-MM-DD", s)
		}
	}
	return ""
}

func validHolidays(list []string) []string {
	var out []string
	for _, s := range list {
		if _, err := time.Parse(time.DateOnly, s); err == nil {
			out = append(out, s)
		}
	}
	return out
}

// weekdayNames maps the accepted spellings to weekdays.
var weekdayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

// ParseWeekday reads a weekday name, "mon" or "monday", in any case.
func ParseWeekday(s string) (time.Weekday, bool) {
	d, ok := weekdayNames[strings.ToLower(strings.TrimSpace(s))]
	return d, ok
}

// ParseClock reads a wall-clock time "HH:MM" (00:00 to 23:59) as the
// duration since midnight.
func ParseClock(s string) (time.Duration, bool) {
	if len(s) != 5 || s[2] != ':' || !digits(s[:2]) || !digits(s[3:]) {
		return 0, false
	}
	h, _ := strconv.Atoi(s[:2])
	m, _ := strconv.Atoi(s[3:])
	if h > 23 || m > 59 {
		return 0, false
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, true
}

func digits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// SendWeekdays reports, indexed by time.Weekday, the days mail may go out.
// Unknown names are skipped: Validate reports them.
func (p Policy) SendWeekdays() [7]bool {
	var days [7]bool
	for _, s := range p.SendDays {
		if d, ok := ParseWeekday(s); ok {
			days[d] = true
		}
	}
	return days
}
