package demo

import (
	"slices"
	"testing"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/classify"
	"github.com/outreach/outreach/rules"
)

// tuesday is the fixed instant the tests tell the story at.
var tuesday = time.Date(2025, time.June, 10, 14, 30, 0, 0, time.UTC)

// Every message the story puts in INBOX reads, to the real classifier, as
// its scenario says: a person, an out-of-office with its return date, a
// hard bounce that names the first email.
func TestDemoStoryClassifiesAsTold(t *testing.T) {
	s, err := NewStory(tuesday)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Faculty) != 12 {
		t.Fatalf("%d faculty, want about a dozen (12)", len(s.Faculty))
	}
	scenarios := map[string]Scenario{}
	for _, f := range s.Faculty {
		scenarios[f.Domain()] = f.Scenario
	}
	inbox := 0
	for _, m := range s.Mail {
		if m.Date.After(tuesday) {
			t.Errorf("a message dated %s, after the story's now", m.Date)
		}
		if m.Mailbox != "INBOX" {
			continue
		}
		inbox++
		r := classify.Classify(m.Raw)
		f := facultyOfMail(t, s, r, m)
		switch f.Scenario {
		case Enthusiastic, PoliteNo, Coordinator:
			if r.Kind != outreach.MessageHuman || r.Confidence == outreach.Unsure {
				t.Errorf("%s: %s %s, want a human reply: %v", f.Name, r.Kind, r.Confidence, r.Evidence)
			}
		case OutOfOffice:
			want := returnDay(tuesday, zone(f.Timezone)).Format("2006-01-02")
			if r.Kind != outreach.MessageAutoReply || r.Reason != classify.ReasonVacation || r.ReturnDate == nil ||
				r.ReturnDate.String() != want {
				t.Errorf("%s: %s/%s back %v, want a vacation auto-reply back %s: %v", f.Name, r.Kind, r.Reason,
					r.ReturnDate, want, r.Evidence)
			}
		case Bounced:
			if r.Kind != outreach.MessageBounce || !r.Permanent || r.Status != "5.1.1" ||
				!slices.Contains(r.FailedRecipients, f.Email) || !slices.Contains(r.RefersTo, f.FirstMessageID) {
				t.Errorf("%s: %+v, want a hard bounce of %s naming %s", f.Name, r, f.Email, f.FirstMessageID)
			}
		default:
			t.Errorf("%s (%s) has mail in INBOX", f.Name, f.Scenario)
		}
	}
	if inbox != 5 {
		t.Errorf("%d messages in INBOX, want 5", inbox)
	}
}

// facultyOfMail finds whose conversation an incoming message belongs to.
func facultyOfMail(t *testing.T, s Story, r classify.Result, m Mail) Faculty {
	t.Helper()
	for _, f := range s.Faculty {
		if slices.Contains(r.RefersTo, f.FirstMessageID) {
			return f
		}
	}
	// The coordinator refers to nothing: the subject ties it.
	for _, f := range s.Faculty {
		if f.Scenario == Coordinator {
			return f
		}
	}
	t.Fatalf("no faculty for %s", m.Raw)
	return Faculty{}
}

// The coordinator's answer matches Professor Harmon's thread by subject
// and domain, the rule that threads it.
func TestDemoCoordinatorSubjectMatches(t *testing.T) {
	s, err := NewStory(tuesday)
	if err != nil {
		t.Fatal(err)
	}
	f, ok := s.Find(coordinatorOf.Email)
	if !ok || f.Scenario != Coordinator {
		t.Fatalf("Find(%s) = %s, %v", coordinatorOf.Email, f.Name, ok)
	}
	if got, want := rules.NormalizeSubject("RE: FW: "+f.Subject), rules.NormalizeSubject(f.Subject); got != want {
		t.Fatalf("normalised %q, want %q", got, want)
	}
}

// Whatever the hour and weekday the demo starts at, the silent threads are
// due for a follow-up (a draft is proposed) and the recent ones are not:
// the story's dates keep every due time in the past.
func TestDemoStoryHoldsAtAnyHour(t *testing.T) {
	policy := outreach.DefaultPolicy().Effective()
	for now := tuesday; now.Before(tuesday.AddDate(0, 0, 14)); now = now.Add(5*time.Hour + 17*time.Minute) {
		s, err := NewStory(now)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range s.Faculty {
			if f.Scenario != Silent && f.Scenario != Recent {
				continue
			}
			d := rules.Decide(rules.Thread{ContactTZ: zone(f.Timezone), Policy: policy,
				History: []rules.HistoryItem{{At: f.FirstSent, Kind: rules.HistoryInitialSent}}}, now)
			due := d.State == outreach.ThreadFollowUpDue && d.ProposeDraft
			if due != (f.Scenario == Silent) {
				t.Errorf("at %s: %s (%s) is %s, propose %v", now.Format(time.RFC1123), f.Name, f.Scenario, d.State, d.ProposeDraft)
			}
		}
	}
}
