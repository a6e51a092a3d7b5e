package rules

import (
	"testing"
	"time"

	outreach "github.com/outreach/outreach"
)

func TestAttach(t *testing.T) {
	sent := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	prof := Candidate{ThreadID: 10, ContactID: 1, ContactAddresses: []string{"chen@med.example.edu", "mei.chen@gmail.example"},
		NormalizedSubject: "research opportunity", Open: true, LastOutboundAt: sent}
	other := Candidate{ThreadID: 20, ContactID: 2, ContactAddresses: []string{"li@tokyo.example.jp"},
		NormalizedSubject: "observership", Open: true, LastOutboundAt: sent}
	base := ThreadingInput{Own: []string{"me@example.org"}, Date: sent.Add(72 * time.Hour), Kind: outreach.MessageHuman,
		Candidates: []Candidate{prof, other}, ThreadOf: map[string]int64{"orig@example.org": 10}}
	cases := []struct {
		name   string
		edit   func(*ThreadingInput)
		thread int64
		rule   string
		conf   outreach.Confidence
		touch  bool
		newT   bool
		rel    string
	}{
		{"reply with In-Reply-To", func(in *ThreadingInput) {
			in.From, in.RefersTo = "chen@med.example.edu", []string{"orig@example.org"}
		}, 10, "refers_to", outreach.Certain, false, false, ""},
		{"coordinator answers in the thread", func(in *ThreadingInput) {
			in.From, in.RefersTo = "coordinator@med.example.edu", []string{"orig@example.org"}
		}, 10, "refers_to", outreach.Certain, false, false, "coordinator@med.example.edu"},
		{"bounce refers to our message: no related address", func(in *ThreadingInput) {
			in.From, in.RefersTo, in.Kind = "mailer-daemon@mx.example.edu", []string{"orig@example.org"}, outreach.MessageBounce
		}, 10, "refers_to", outreach.Certain, false, false, ""},
		{"reply from her personal address without threading headers", func(in *ThreadingInput) {
			in.From, in.Subject = "mei.chen@gmail.example", "hello"
		}, 10, "contact_address", outreach.Certain, false, false, ""},
		{"department address, same subject and domain", func(in *ThreadingInput) {
			in.From, in.Subject = "urology-office@med.example.edu", "RE: [EXTERNAL] Research opportunity"
		}, 10, "subject_domain", outreach.Likely, false, false, "urology-office@med.example.edu"},
		{"same subject, other domain: not ours", func(in *ThreadingInput) {
			in.From, in.Subject = "someone@elsewhere.example", "Re: Research opportunity"
		}, 0, "none", outreach.Certain, false, false, ""},
		{"same subject and domain, but too late", func(in *ThreadingInput) {
			in.From, in.Subject, in.Date = "office@med.example.edu", "Re: Research opportunity", sent.Add(61*24*time.Hour)
		}, 0, "none", outreach.Certain, false, false, ""},
		{"our own copy in Sent is a touch, never a reply", func(in *ThreadingInput) {
			in.From, in.To, in.RefersTo = "me@example.org", []string{"chen@med.example.edu"}, []string{"orig@example.org"}
		}, 10, "own_touch", outreach.Certain, true, false, ""},
		{"our manual follow-up without headers", func(in *ThreadingInput) {
			in.From, in.To, in.Subject = "me@example.org", []string{"li@tokyo.example.jp"}, "Following up"
		}, 20, "own_touch", outreach.Certain, true, false, ""},
		{"our first email to a contact without an open thread", func(in *ThreadingInput) {
			in.From, in.To = "me@example.org", []string{"new@uni.example"}
			in.Candidates = append(in.Candidates, Candidate{ContactID: 3, ContactAddresses: []string{"new@uni.example"}})
		}, 0, "own_touch", outreach.Certain, true, true, ""},
		{"closed thread is not matched by address", func(in *ThreadingInput) {
			in.From = "li@tokyo.example.jp"
			in.Candidates = []Candidate{{ThreadID: 20, ContactID: 2, ContactAddresses: []string{"li@tokyo.example.jp"}}}
		}, 0, "none", outreach.Certain, false, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := base
			in.Candidates = append([]Candidate(nil), base.Candidates...)
			c.edit(&in)
			a := Attach(in)
			if a.ThreadID != c.thread || a.Rule != c.rule || a.Confidence != c.conf || a.Touch != c.touch ||
				a.NewThread != c.newT || a.RelatedAddress != c.rel {
				t.Fatalf("got %+v\nwant thread %d rule %s confidence %s touch %v new %v related %q",
					a, c.thread, c.rule, c.conf, c.touch, c.newT, c.rel)
			}
			if a.Evidence == "" {
				t.Error("no evidence")
			}
		})
	}
}
