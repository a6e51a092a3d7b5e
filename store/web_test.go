package store_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/daemon"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/store/storetest"
)

// movableClock is a store clock a test moves by hand.
type movableClock struct{ at atomic.Pointer[time.Time] }

func newClock(at time.Time) *movableClock {
	c := &movableClock{}
	c.set(at)
	return c
}

func (c *movableClock) set(at time.Time)    { c.at.Store(&at) }
func (c *movableClock) now() time.Time      { return *c.at.Load() }
func (c *movableClock) add(d time.Duration) { c.set(c.now().Add(d)) }

func hash(b byte) []byte {
	h := make([]byte, 32)
	h[0] = b
	return h
}

func TestWebSessions(t *testing.T) {
	t.Parallel()
	clock := newClock(time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC))
	st := storetest.New(t, clock.now)
	ctx := context.Background()
	if _, err := st.WebLoginByName(ctx, "applicant"); !outreach.IsKind(err, outreach.KindNotFound) {
		t.Fatalf("login before any: %v", err)
	}
	sess := store.WebSession{IDHash: hash(1), Login: "applicant", CSRFToken: "0123456789abcdef0123456789abcdef",
		ExpiresAt: clock.now().Add(time.Hour)}
	if err := st.StartWebSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	got, err := st.WebSessionByHash(ctx, hash(1))
	if err != nil || got.Login != "applicant" || got.CSRFToken != sess.CSRFToken {
		t.Fatalf("session: %+v, %v", got, err)
	}
	if _, err := st.WebSessionByHash(ctx, hash(2)); !outreach.IsKind(err, outreach.KindNotFound) {
		t.Errorf("unknown session: %v", err)
	}
	clock.add(2 * time.Hour)
	if _, err := st.WebSessionByHash(ctx, hash(1)); !outreach.IsKind(err, outreach.KindNotFound) {
		t.Errorf("expired session: %v", err)
	}
	// A new session clears expired ones; a password change ends them all.
	sess.IDHash, sess.ExpiresAt = hash(3), clock.now().Add(time.Hour)
	if err := st.StartWebSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := st.DB().Get(&rows, `SELECT count(*) FROM web_sessions`); err != nil || rows != 1 {
		t.Errorf("%d sessions after the expired one was cleared (%v)", rows, err)
	}
	if err := st.SetWebPassword(ctx, "applicant", "$2a$10$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.WebSessionByHash(ctx, hash(3)); !outreach.IsKind(err, outreach.KindNotFound) {
		t.Errorf("session after a password change: %v", err)
	}
	if l, err := st.WebLoginByName(ctx, "applicant"); err != nil || l.PasswordHash == "" {
		t.Errorf("login: %+v %v", l, err)
	}
	if err := st.SetWebPassword(ctx, "applicant", "plain text"); !outreach.IsKind(err, outreach.KindConflict) {
		t.Errorf("a password that is not a bcrypt hash: %v", err)
	}
	if err := st.EndWebSession(ctx, hash(3)); err != nil {
		t.Errorf("ending a gone session: %v", err)
	}
}

// A visit is a run of requests; the previous visit's end is what "since
// your last visit" means.
func TestWebVisits(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	clock := newClock(start)
	st := storetest.New(t, clock.now)
	ctx := context.Background()
	if err := st.StartWebSession(ctx, store.WebSession{IDHash: hash(1), Login: "applicant",
		CSRFToken: "0123456789abcdef0123456789abcdef", ExpiresAt: start.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	gap := 30 * time.Minute
	for _, step := range []struct {
		after time.Duration
		want  *time.Time
	}{
		{time.Minute, nil},      // the first visit ever: nothing before it
		{10 * time.Minute, nil}, // the same visit
		{2 * time.Hour, timePtr(start.Add(11 * time.Minute))},
		{5 * time.Minute, timePtr(start.Add(11 * time.Minute))},
	} {
		clock.add(step.after)
		since, err := st.WebVisit(ctx, "applicant", gap)
		if err != nil {
			t.Fatal(err)
		}
		if (since == nil) != (step.want == nil) || (since != nil && !since.Equal(*step.want)) {
			t.Errorf("at %s: since %v, want %v", clock.now().Format(time.Kitchen), since, step.want)
		}
	}
	// Logging in starts a new visit at once.
	last := clock.now()
	clock.add(time.Minute)
	if err := st.StartWebSession(ctx, store.WebSession{IDHash: hash(2), Login: "applicant",
		CSRFToken: "0123456789abcdef0123456789abcdef", ExpiresAt: clock.now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if since, err := st.WebVisit(ctx, "applicant", gap); err != nil || since == nil || !since.Equal(last) {
		t.Errorf("after a login: since %v (%v), want %v", since, err, last)
	}
}

func TestEditContact(t *testing.T) {
	t.Parallel()
	st := storetest.New(t, nil)
	ctx := context.Background()
	if _, err := st.ImportContacts(ctx, store.ImportRequest{Columns: []string{"email", "timezone", "addresses"},
		Rows: []outreach.ContactRow{row(2, "chen@example.edu", "chen@gmail.example.com"), row(3, "okafor@example.org")}}); err != nil {
		t.Fatal(err)
	}
	chen, _ := st.ContactByAddress(ctx, "chen@example.edu")
	got, err := st.EditContact(ctx, chen.ID, store.ContactEdit{Timezone: "Asia/Tokyo",
		Addresses: []string{"chen@gmail.example.com", "mchen@newhospital.example"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != "chen@gmail.example.com" || len(got.Addresses) != 2 || got.Addresses[1] != "mchen@newhospital.example" ||
		got.Timezone != "Asia/Tokyo" {
		t.Fatalf("after edit: %+v", got)
	}
	if _, err := st.ContactByAddress(ctx, "chen@example.edu"); !outreach.IsKind(err, outreach.KindNotFound) {
		t.Errorf("a dropped address still finds the contact: %v", err)
	}
	byID, err := st.ContactByID(ctx, chen.ID)
	if err != nil || byID.Email != got.Email {
		t.Errorf("ContactByID: %+v %v", byID, err)
	}
	for name, c := range map[string]struct {
		id   int64
		edit store.ContactEdit
		kind outreach.ErrorKind
	}{
		"another contact's":   {chen.ID, store.ContactEdit{Addresses: []string{"okafor@example.org"}}, outreach.KindConflict},
		"no address":          {chen.ID, store.ContactEdit{}, outreach.KindInvalid},
		"no such contact":     {99999, store.ContactEdit{Addresses: []string{"new@example.org"}}, outreach.KindNotFound},
		"swap primary, again": {chen.ID, store.ContactEdit{Addresses: []string{"mchen@newhospital.example", "chen@gmail.example.com"}}, ""},
	} {
		if _, err := st.EditContact(ctx, c.id, c.edit); outreach.KindOf(err) != c.kind {
			t.Errorf("%s: %v, want kind %q", name, err, c.kind)
		}
	}
	events, err := st.Events(ctx, store.EventFilter{ContactID: chen.ID})
	if err != nil || len(events) != 2 || events[0].Type != "contact_edited" || events[0].Actor != "user" {
		t.Errorf("events: %+v %v", events, err)
	}
}

// Replies: human ones, once each though a copy sits in two folders, and
// only those stored after the mark.
func TestRepliesSinceAndBouncedAddresses(t *testing.T) {
	t.Parallel()
	clock := newClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	st := storetest.New(t, clock.now)
	ctx := context.Background()
	acct, _ := st.EnsureAccount(ctx, outreach.Account{Name: "main", Email: "me@example.org", Timezone: "UTC"})
	if _, err := st.ImportContacts(ctx, store.ImportRequest{Columns: []string{"email", "first_name", "last_name", "institution"},
		Rows: []outreach.ContactRow{{Line: 2, Contact: outreach.Contact{Email: "chen@example.edu", Addresses: []string{"chen@example.edu"},
			FirstName: "Wei", LastName: "Chen", Institution: "University Medical Center"}}}}); err != nil {
		t.Fatal(err)
	}
	sent, _ := st.EnsureMailbox(ctx, acct, "Sent", "sent")
	inbox, _ := st.EnsureMailbox(ctx, acct, "INBOX", "inbox")
	research, _ := st.EnsureMailbox(ctx, acct, "Research", "extra")
	save := func(box int64, m outreach.Message) {
		t.Helper()
		if _, err := st.SaveSyncBatch(ctx, store.SyncBatch{MailboxID: box, Cursor: store.Cursor{UIDValidity: 1, HighestUID: m.UID},
			Messages: []outreach.Message{m}}); err != nil {
			t.Fatal(err)
		}
		if _, err := daemon.AttachPending(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	save(sent.ID, outreach.Message{UID: 1, MessageID: "first@example.org", From: "me@example.org", To: []string{"chen@example.edu"},
		Subject: "Research", Date: clock.now(), Direction: outreach.Outbound,
		Raw: []byte("Subject: Research\r\n\r\nDear Dr. Chen,\r\n")})
	mark := clock.now().Add(time.Hour)
	clock.add(2 * time.Hour)
	reply := outreach.Message{UID: 1, MessageID: "reply@example.edu", From: "chen@example.edu", To: []string{"me@example.org"},
		Subject: "Re: Research", Date: clock.now(), Direction: outreach.Inbound, InReplyTo: []string{"first@example.org"},
		Kind: outreach.MessageHuman, Classification: []byte(`{"kind":"human","confidence":"certain"}`),
		Raw: []byte("Subject: Re: Research\r\n\r\nYes, let us talk.\r\n")}
	save(inbox.ID, reply)
	save(research.ID, reply)
	replies, err := st.RepliesSince(ctx, mark, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(replies) != 1 || replies[0].ContactName != "Wei Chen" || replies[0].Institution != "University Medical Center" ||
		replies[0].ThreadID == 0 {
		t.Fatalf("replies since the mark: %+v", replies)
	}
	if later, err := st.RepliesSince(ctx, clock.now(), 10); err != nil || len(later) != 0 {
		t.Errorf("replies since now: %+v %v", later, err)
	}
	if _, err := st.DB().Exec(`UPDATE contact_addresses SET state = 'undeliverable', state_reason = '5.1.1 user unknown'`); err != nil {
		t.Fatal(err)
	}
	bad, err := st.UndeliverableAddresses(ctx)
	if err != nil || len(bad) != 1 || bad[0].Address != "chen@example.edu" || bad[0].Reason != "5.1.1 user unknown" {
		t.Errorf("undeliverable: %+v %v", bad, err)
	}
}

func timePtr(t time.Time) *time.Time { return &t }
