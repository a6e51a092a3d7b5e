package demo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// With DATABASE_URL set, the demo creates a database of its own on that
// server (never using the one named), seeds it, and drops it on Close,
// with its directory and state file.
func TestDemoOnADatabaseServer(t *testing.T) {
	ctx := context.Background()
	server := storetest.URL(t)
	statePath := filepath.Join(t.TempDir(), "demo.json")
	d, err := Start(ctx, Options{Now: func() time.Time { return tuesday }, ServerURL: server, StatePath: statePath})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Private || d.DatabaseURL == server || !strings.Contains(d.DatabaseURL, "outreach_demo_") {
		t.Fatalf("database %s (private %v), want a fresh outreach_demo_ database beside %s", d.DatabaseURL, d.Private, server)
	}
	st, err := store.Open(ctx, d.DatabaseURL, store.Options{MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	contacts, err := st.Contacts(ctx, store.ContactFilter{})
	st.Close()
	if err != nil || len(contacts) != len(d.Story.Faculty) {
		t.Fatalf("%d contacts (%v), want the %d faculty", len(contacts), err, len(d.Story.Faculty))
	}
	if second, err := Start(ctx, Options{ServerURL: server, StatePath: statePath}); !outreach.IsKind(err, outreach.KindConflict) {
		if err == nil {
			second.Close()
		}
		t.Errorf("a second demo on the same state file: %v, want a conflict", err)
	}

	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := store.Open(ctx, d.DatabaseURL, store.Options{MaxOpenConns: 1}); err == nil {
		st.Close()
		t.Errorf("the demo's database %s still exists after Close", d.DatabaseURL)
	}
	for _, p := range []string{d.Dir, statePath} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", p, err)
		}
	}
}
