// Package storetest gives tests a real PostgreSQL: a private cluster in a
// temporary directory started once per test binary (see pglocal), or the
// server at TEST_DATABASE_URL when that is set. Each test gets a database of
// its own, cloned from a migrated template, so tests run in parallel.
//
// A package that uses it calls Main from its TestMain, which stops the
// cluster when the tests end.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the driver

	"github.com/outreach/outreach/pglocal"
	"github.com/outreach/outreach/store"
)

var (
	setupOnce sync.Once
	setupErr  error
	server    *pglocal.Server
	tmpDir    string
	adminURL  string // a URL of the server's maintenance database
	template  string // the migrated template database
)

// Main runs the tests and stops the private cluster, if one was started.
// Use it as `func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }`.
func Main(m *testing.M) int {
	code := m.Run()
	if server != nil {
		if err := server.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "storetest:", err)
		}
	}
	if template != "" && server == nil {
		dropDatabase(template)
	}
	if tmpDir != "" {
		os.RemoveAll(tmpDir)
	}
	return code
}

func setup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		adminURL = u
	} else {
		dir, err := os.MkdirTemp("", "outreach-pg-")
		if err != nil {
			return err
		}
		tmpDir = dir
		server, err = pglocal.Start(ctx, dir, pglocal.Options{Fast: true})
		if err != nil {
			return err
		}
		adminURL = server.URL("postgres")
	}
	template = "outreach_tmpl_" + randomSuffix()
	if err := createDatabase(ctx, template, ""); err != nil {
		return err
	}
	st, err := store.Open(ctx, withDatabase(adminURL, template), store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	_, err = st.Migrate(ctx)
	return err
}

// URL returns the URL of a fresh, empty database (no schema), dropped when
// the test ends. Use it to test migrations themselves.
func URL(t testing.TB) string { return newDatabase(t, "") }

// New returns a Store on a fresh, migrated database, dropped when the test
// ends. now is the store's clock (nil: time.Now).
func New(t testing.TB, now func() time.Time) *store.Store {
	t.Helper()
	u := newDatabase(t, "template")
	st, err := store.Open(context.Background(), u, store.Options{Now: now, MaxOpenConns: 20})
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newDatabase(t testing.TB, from string) string {
	t.Helper()
	setupOnce.Do(func() { setupErr = setup() })
	if setupErr != nil {
		t.Fatalf("test PostgreSQL: %v", setupErr)
	}
	name := "outreach_test_" + randomSuffix()
	tmpl := ""
	if from == "template" {
		tmpl = template
	}
	if err := createDatabase(context.Background(), name, tmpl); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() { dropDatabase(name) })
	return withDatabase(adminURL, name)
}

func createDatabase(ctx context.Context, name, tmpl string) error {
	db, err := sqlx.ConnectContext(ctx, "postgres", adminURL)
	if err != nil {
		return err
	}
	defer db.Close()
	q := "CREATE DATABASE " + name
	if tmpl != "" {
		q += " TEMPLATE " + tmpl
	}
	_, err = db.ExecContext(ctx, q)
	return err
}

func dropDatabase(name string) {
	db, err := sqlx.Connect("postgres", adminURL)
	if err != nil {
		return
	}
	defer db.Close()
	_, _ = db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
}

// withDatabase replaces the database name in a postgres:// URL.
func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		panic(fmt.Sprintf("storetest: TEST_DATABASE_URL is not a URL: %v", err))
	}
	u.Path = "/" + name
	return u.String()
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
