package store_test

import (
	"context"
	"testing"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/store/storetest"
)

// Notices arrive when the change commits, from any connection; a listener
// whose connection is killed reconnects and delivers every channel once,
// since what was notified meanwhile is lost.
func TestListenDeliversNotices(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := storetest.New(t, nil)
	notices, err := st.Listen(ctx, store.NoticeApproved, store.NoticeContacts)
	if err != nil {
		t.Fatal(err)
	}
	next := func(what string) string {
		t.Helper()
		select {
		case n := <-notices:
			return n
		case <-time.After(30 * time.Second):
			t.Fatalf("no notice within 30s: %s", what)
		}
		return ""
	}

	// A contact added: the trigger notifies at commit.
	if _, err := st.ImportContacts(ctx, store.ImportRequest{Columns: []string{"email"},
		Rows: []outreach.ContactRow{{Line: 2, Contact: outreach.Contact{Email: "chen@med.example.edu",
			Addresses: []string{"chen@med.example.edu"}}}}}); err != nil {
		t.Fatal(err)
	}
	if n := next("contact added"); n != store.NoticeContacts {
		t.Fatalf("got %q after adding a contact", n)
	}

	// A rolled-back change notifies nothing: the next notice is the
	// committed one after it.
	tx, err := st.DB().Beginx()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`SELECT pg_notify($1, '')`, store.NoticeApproved); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	if _, err := st.DB().Exec(`UPDATE contact_addresses SET address = 'wei.chen@med.example.edu'`); err != nil {
		t.Fatal(err)
	}
	if n := next("address changed"); n != store.NoticeContacts {
		t.Fatalf("got %q after a rolled-back notice and a committed address change", n)
	}

	// The listener's connection dies: it comes back and delivers both.
	if _, err := st.DB().Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE query LIKE 'LISTEN%' AND datname = current_database()`); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{next("reconnection"): true, next("reconnection"): true}
	if !got[store.NoticeApproved] || !got[store.NoticeContacts] {
		t.Fatalf("after a reconnection got %v, want both channels", got)
	}
	cancel()
	for range notices { // closed once ctx ends
	}
}
