package web

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/daemon"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/store/storetest"
	"github.com/outreach/outreach/templates"
)

func TestMain(m *testing.M) {
	code := storetest.Main(m)
	stopBrowser()
	os.Exit(code)
}

// t0 is the fixtures' frozen clock: a Tuesday morning in Chicago.
var t0 = time.Date(2026, 11, 10, 15, 0, 0, 0, time.UTC)

const testPassword = "correct horse battery"

// fixture is a seeded database behind a running page.
type fixture struct {
	clock   atomic.Pointer[time.Time] // the store's clock: moves while seeding, then stays at t0
	st      *store.Store
	planner *daemon.Planner
	srv     *Server
	ts      *httptest.Server
	drafts  map[string]int64 // waiting drafts by the contact's last name
	threads map[string]int64 // threads by the contact's last name
}

var profile = templates.Profile{Name: "Amaka Obi", Position: "International medical graduate", Country: "Nigeria"}

// newFixture seeds the outreach of one applicant and serves the page with
// the password set, unless noPassword.
func newFixture(t testing.TB, noPassword bool) *fixture {
	t.Helper()
	f := &fixture{drafts: map[string]int64{}, threads: map[string]int64{}}
	f.setClock(t0)
	clock := func() time.Time { return *f.clock.Load() }
	st := storetest.New(t, clock)
	set, err := templates.New("")
	if err != nil {
		t.Fatal(err)
	}
	p := &daemon.Planner{Store: st, Policy: outreach.DefaultPolicy(),
		Compose: daemon.TemplateComposer(set, profile, "followup")}
	f.st, f.planner = st, p
	f.seed(t)
	if !noPassword {
		// bcrypt's lowest cost: the real one (HashPassword) costs a second
		// under the race detector, on every login of every test.
		hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SetWebPassword(context.Background(), LoginName, string(hash)); err != nil {
			t.Fatal(err)
		}
	}
	f.srv, err = New(Config{Store: st, Planner: p, Policy: outreach.DefaultPolicy(), Profile: profile,
		FollowUpTemplate: "followup", Location: time.UTC, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	f.ts = httptest.NewServer(f.srv)
	t.Cleanup(f.ts.Close)
	return f
}

// person is a seeded contact and what happened in their thread.
type person struct {
	first, last, email, title, institution, tz string
	sentDaysAgo                                int
	reply                                      string // a human reply's text, if they answered
}

var people = []person{
	{"Wei", "Chen", "chen@med.example.edu", "Professor of Urology", "University Medical Center", "America/Chicago", 10, ""},
	{"Ana", "Souza", "ana.souza@med.example.edu", "Professor of Urology", "Example University Hospital", "America/Chicago", 9, ""},
	{"Katrin", "Müller", "k.mueller@uniklinik.example.de", "Oberärztin", "Uniklinik Example", "Europe/Berlin", 12, ""},
	{"Kenji", "Tanaka", "tanaka@tokyo-med.example.jp", "Associate Professor", "Tokyo Medical Example", "Asia/Tokyo", 6,
		"Dear Dr. Obi,\n\nThank you for your interest in our stone research. I would be glad to talk next week.\n"},
	{"Grace", "Adeyemi", "g.adeyemi@lagos-teaching.example.ng", "Consultant Urologist", "Lagos Teaching Hospital", "Africa/Lagos", 3, ""},
}

// seed writes each person's first email to Sent (and any reply to the
// INBOX) as a sync pass would, threads them, and runs the planner at t0:
// the silent ones get a follow-up draft.
func (f *fixture) seed(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	st := f.st
	acct, err := st.EnsureAccount(ctx, outreach.Account{Name: "main", Email: "amaka.obi@example.org",
		DisplayName: "Amaka Obi", Timezone: "Africa/Lagos"})
	if err != nil {
		t.Fatal(err)
	}
	var rows []outreach.ContactRow
	for i, p := range people {
		rows = append(rows, outreach.ContactRow{Line: i + 2, Contact: outreach.Contact{Email: p.email, Addresses: []string{p.email},
			FirstName: p.first, LastName: p.last, Title: p.title, Institution: p.institution, Timezone: p.tz}})
	}
	if _, err := st.ImportContacts(ctx, store.ImportRequest{Rows: rows,
		Columns: []string{"email", "first_name", "last_name", "title", "institution", "timezone"}}); err != nil {
		t.Fatal(err)
	}
	sent, err := st.EnsureMailbox(ctx, acct, "Sent", "sent")
	if err != nil {
		t.Fatal(err)
	}
	inbox, err := st.EnsureMailbox(ctx, acct, "INBOX", "inbox")
	if err != nil {
		t.Fatal(err)
	}
	// Each message arrives as sync would bring it, a few minutes after it
	// was sent, and the planner runs then, as the daemon does: the
	// decision log reads as it would have happened.
	var arrivals []arrival
	for i, p := range people {
		uid := uint32(i + 1)
		at := t0.AddDate(0, 0, -p.sentDaysAgo).Add(-5 * time.Hour)
		id := fmt.Sprintf("first-%d@example.org", uid)
		subject := "Research opportunity in your lab"
		text := fmt.Sprintf("Dear Professor %s,\r\n\r\nI am an international medical graduate from Nigeria and read your "+
			"recent paper with great interest. Could I contribute to your research this year?\r\n\r\nBest regards,\r\nAmaka Obi\r\n", p.last)
		arrivals = append(arrivals, arrival{mailbox: sent.ID, msg: outreach.Message{UID: uid, MessageID: id,
			From: "amaka.obi@example.org", FromName: "Amaka Obi", To: []string{p.email}, Subject: subject, Date: at,
			Direction: outreach.Outbound, Raw: []byte("From: Amaka Obi <amaka.obi@example.org>\r\nTo: " + p.email +
				"\r\nSubject: " + subject + "\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text)}})
		if p.reply != "" {
			arrivals = append(arrivals, arrival{mailbox: inbox.ID, msg: outreach.Message{UID: uid,
				MessageID: fmt.Sprintf("reply-%d@example.jp", uid), From: p.email, FromName: p.first + " " + p.last,
				To: []string{"amaka.obi@example.org"}, Subject: "Re: " + subject, Date: t0.Add(-20 * time.Hour),
				Direction: outreach.Inbound, InReplyTo: []string{id}, References: []string{id}, Kind: outreach.MessageHuman,
				Classification: []byte(`{"kind":"human","confidence":"certain",` +
					`"evidence":["no automatic-reply headers","a person's text quoting our message"]}`),
				Raw: []byte("Subject: Re: " + subject + "\r\n\r\n" + p.reply)}})
		}
	}
	sort.Slice(arrivals, func(i, j int) bool { return arrivals[i].msg.Date.Before(arrivals[j].msg.Date) })
	for _, a := range arrivals {
		now := a.msg.Date.Add(3 * time.Minute)
		f.setClock(now)
		if _, err := st.SaveSyncBatch(ctx, store.SyncBatch{MailboxID: a.mailbox,
			Cursor: store.Cursor{UIDValidity: 1, HighestUID: a.msg.UID}, Messages: []outreach.Message{a.msg}}); err != nil {
			t.Fatal(err)
		}
		if _, err := daemon.AttachPending(ctx, st); err != nil {
			t.Fatal(err)
		}
		if _, err := f.planner.Tick(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	f.setClock(t0)
	if _, err := f.planner.Tick(ctx, t0); err != nil {
		t.Fatal(err)
	}
	f.index(t)
}

// arrival is one message as sync brings it.
type arrival struct {
	mailbox int64
	msg     outreach.Message
}

func (f *fixture) setClock(at time.Time) { f.clock.Store(&at) }

// index finds each person's thread and waiting draft.
func (f *fixture) index(t testing.TB) {
	t.Helper()
	ctx := context.Background()
	threads, err := f.st.Threads(ctx, store.ThreadFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, th := range threads {
		for _, p := range people {
			if th.Contact == p.email {
				f.threads[p.last] = th.ID
			}
		}
	}
	drafts, err := f.st.Drafts(ctx, store.DraftFilter{States: []outreach.DraftState{outreach.DraftProposed}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range drafts {
		for _, p := range people {
			if d.To == p.email {
				f.drafts[p.last] = d.ID
			}
		}
	}
	for _, last := range []string{"Chen", "Souza", "Müller"} {
		if f.drafts[last] == 0 {
			t.Fatalf("seed: no draft for %s: drafts %+v", last, drafts)
		}
	}
}

// draft reads a draft back from the database.
func (f *fixture) draft(t testing.TB, id int64) store.DraftView {
	t.Helper()
	d, err := f.st.Draft(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
