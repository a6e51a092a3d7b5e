package outreach

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPolicyValidate(t *testing.T) {
	if err := DefaultPolicy().Validate(); err != nil {
		t.Fatalf("the default policy is invalid: %v", err)
	}
	cases := []struct {
		name string
		edit func(*Policy)
		want string
	}{
		{"a clock past midnight", func(p *Policy) { p.SendStart = "25:00" }, `policy.send_start: "25:00" is not HH:MM`},
		{"a clock without minutes", func(p *Policy) { p.SendEnd = "17" }, `policy.send_end: "17" is not HH:MM`},
		{"a signed clock", func(p *Policy) { p.SendStart = "+8:00" }, `policy.send_start: "+8:00" is not HH:MM`},
		{"an empty window", func(p *Policy) { p.SendStart, p.SendEnd = "17:00", "08:00" },
			`policy.send_end: "08:00" is not after send_start "17:00"`},
		{"a follow-up after a day looks pushy", func(p *Policy) { p.FollowUpAfterDays = 1 },
			"policy.follow_up_after_days: 1 is not between 5 and 90"},
		{"zero close days", func(p *Policy) { p.CloseAfterDays = 0 }, "policy.close_after_days: 0 is not between 1 and 365"},
		{"negative resume days", func(p *Policy) { p.ResumeAfterReturnDays = -1 },
			"policy.resume_after_return_days: -1 is not between 0 and 30"},
		{"negative cooldown", func(p *Policy) { p.CooldownDays = -5 }, "policy.cooldown_days: -5 is not between 0 and 3650"},
		{"no sending at all", func(p *Policy) { p.DailySendCap = 0 }, "policy.daily_send_cap: 0 is not between 1 and 500"},
		{"no send days", func(p *Policy) { p.SendDays = nil }, "policy.send_days: no day to send on"},
		{"an unknown day", func(p *Policy) { p.SendDays = []string{"mon", "funday"} }, `policy.send_days: "funday" is not a weekday (mon..sun)`},
		{"a day twice", func(p *Policy) { p.SendDays = []string{"mon", "Monday"} }, `policy.send_days: "Monday" is listed twice`},
		{"a holiday in another format", func(p *Policy) { p.Holidays = []string{"2026-12-25", "12/31/2026"} },
			`policy.holidays: "12/31/2026" is not YYYY-MM-DD`},
		{"drafts that never expire", func(p *Policy) { p.DraftExpiresAfterDays = 0 },
			"policy.draft_expires_after_days: 0 is not between 1 and 60"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := DefaultPolicy()
			c.edit(&p)
			err := p.Validate()
			if err == nil || err.Error() != c.want || !IsKind(err, KindInvalid) {
				t.Errorf("Validate() = %v (kind %s), want %q", err, KindOf(err), c.want)
			}
		})
	}
}

func TestPolicyWith(t *testing.T) {
	base := DefaultPolicy()
	base.Holidays = []string{"2026-12-25"}
	days := []string{"tue", "thu"}
	got := base.With(PolicyOverride{FollowUpAfterDays: ptrTo(10), BusinessDays: ptrTo(true), SendDays: &days,
		SendStart: ptrTo("09:30"), Holidays: &[]string{}})
	want := base
	want.FollowUpAfterDays, want.BusinessDays, want.SendDays, want.SendStart, want.Holidays = 10, true, days, "09:30", []string{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("With:\n got %+v\nwant %+v", got, want)
	}
	days[0] = "sat"
	got.SendDays[1] = "sun"
	if got.SendDays[0] != "tue" || base.SendDays[1] != "tue" {
		t.Error("With shares slices with its inputs")
	}
	if !reflect.DeepEqual(base.With(PolicyOverride{}), base) {
		t.Error("an empty override changes the policy")
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestPolicyEffective(t *testing.T) {
	def := DefaultPolicy()
	if zero := (Policy{}).Effective(); !reflect.DeepEqual(zero, def) {
		t.Errorf("the zero policy is not the default:\n%+v", zero)
	}
	p := def
	p.ResumeAfterReturnDays, p.CooldownDays = 0, 0
	p.SendStart, p.FollowUpAfterDays, p.Holidays, p.CloseAfterDays = "8am", 2, []string{"2026-12-25", "soon"}, 30
	got := p.Effective()
	if got.SendStart != "08:00" || got.SendEnd != "17:00" || got.FollowUpAfterDays != 7 || got.CloseAfterDays != 30 || got.ResumeAfterReturnDays != 0 ||
		!slices.Equal(got.Holidays, []string{"2026-12-25"}) {
		t.Errorf("Effective kept an invalid value or lost a valid one: %+v", got)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Effective is invalid: %v", err)
	}
}

// The keys are a contract with users' files: toml and json agree, and
// both name every field.
func TestPolicyKeys(t *testing.T) {
	want := []string{"follow_up_after_days", "business_days", "close_after_days", "resume_after_return_days",
		"cooldown_days", "daily_send_cap", "send_days", "send_start", "send_end", "holidays", "draft_expires_after_days",
		"follow_up_window_days"}
	for _, typ := range []reflect.Type{reflect.TypeFor[Policy](), reflect.TypeFor[PolicyOverride]()} {
		var keys []string
		for f := range typ.Fields() {
			toml, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			js, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if toml != js {
				t.Errorf("%s.%s: toml %q, json %q", typ.Name(), f.Name, toml, js)
			}
			keys = append(keys, toml)
		}
		if !slices.Equal(keys, want) {
			t.Errorf("%s keys %v, want %v", typ.Name(), keys, want)
		}
	}
	var round Policy
	data, _ := json.Marshal(DefaultPolicy())
	if err := json.Unmarshal(data, &round); err != nil || !reflect.DeepEqual(round, DefaultPolicy()) {
		t.Errorf("JSON round trip: %v %+v", err, round)
	}
}

func TestParseHelpers(t *testing.T) {
	for s, want := range map[string]time.Duration{"00:00": 0, "08:30": 8*time.Hour + 30*time.Minute, "23:59": 23*time.Hour + 59*time.Minute} {
		if got, ok := ParseClock(s); !ok || got != want {
			t.Errorf("ParseClock(%q) = %v, %v", s, got, ok)
		}
	}
	for _, s := range []string{"24:00", "8:00", "08:60", "0800", "08:0a", " 8:00", ""} {
		if _, ok := ParseClock(s); ok {
			t.Errorf("ParseClock(%q) accepted", s)
		}
	}
	if d, ok := ParseWeekday(" Sunday "); !ok || d != time.Sunday {
		t.Errorf("ParseWeekday(Sunday) = %v, %v", d, ok)
	}
	if got := DefaultPolicy().SendWeekdays(); got != [7]bool{false, true, true, true, true, true, false} {
		t.Errorf("SendWeekdays = %v", got)
	}
}
