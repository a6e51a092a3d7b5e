package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/outreach/outreach/daemon"
	"github.com/outreach/outreach/internal/dovecot"
	"github.com/outreach/outreach/store"
)

// syncConfig is a configuration with one account on a local IMAP port.
func syncConfig(port int) string {
	return fmt.Sprintf(`[[accounts]]
name = "main"
email = "applicant@example.org"
timezone = "UTC"

[accounts.imap]
host = "127.0.0.1"
port = %d
security = "none"
username = %q
password = %q

[accounts.smtp]
host = "127.0.0.1"
port = 2525
security = "none"
password = "unused"
`, port, dovecot.User, dovecot.Password)
}

// The login to the server runs while the database opens; the pass stores
// what is new, the next finds nothing, and an unreachable server is exit
// code 6 with the account degraded.
func TestSyncOnceDialsWhileTheDatabaseOpens(t *testing.T) {
	t.Parallel()
	srv := dovecot.ForTest(t)
	msg := func(id string) []byte {
		return []byte("From: Dr. Chen <chen@med.example.edu>\r\nTo: applicant@example.org\r\nSubject: Re: Research\r\n" +
			"Message-ID: <" + id + ">\r\nDate: Mon, 02 Nov 2026 09:00:00 +0000\r\n\r\nThank you.\r\n")
	}
	if err := srv.Deliver("INBOX", msg("a@med.example.edu"), msg("b@med.example.edu"), msg("c@med.example.edu")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Deliver("Sent", msg("d@example.org")); err != nil {
		t.Fatal(err)
	}
	env := dbEnv(t)
	cfg := writeFile(t, "outreach.toml", syncConfig(srv.Port))

	for _, want := range []int{4, 0} {
		r := cli(t, env, "", "--config", cfg, "sync", "--once", "--json")
		var sum daemon.PassSummary
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &sum) != nil || sum.Stored != want || len(sum.Mailboxes) != 2 {
			t.Fatalf("sync --once: %+v; want %d stored over INBOX and Sent", r, want)
		}
	}

	closed := writeFile(t, "closed.toml", syncConfig(closedPort(t)))
	if r := cli(t, env, "", "--config", closed, "sync", "--once"); r.code != exitUnavailable || !strings.Contains(r.stderr, "connect to") {
		t.Fatalf("sync --once against a closed port: %+v, want exit %d naming the connection", r, exitUnavailable)
	}
	if r := cli(t, env, "", "--config", closed, "status", "--json"); !strings.Contains(r.stdout, `"state":"degraded"`) {
		t.Fatalf("status after the failed connection: %+v, want the account degraded", r)
	}
}

// A schema that is behind stops the command before any pass, the login
// under way or not: exit code 5.
func TestSyncOnceRefusesAnOldSchemaWhileDialing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := dovecot.ForTest(t)
	env := dbEnv(t) // migrated; then one version is taken back
	st, err := store.Open(ctx, env["OUTREACH_DATABASE_URL"], store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.DB().Exec(`DELETE FROM goose_db_version WHERE version_id = (SELECT max(version_id) FROM goose_db_version)`); err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, "outreach.toml", syncConfig(srv.Port))
	if r := cli(t, env, "", "--config", cfg, "sync", "--once"); r.code != exitSchema {
		t.Fatalf("sync --once on an old schema: %+v, want exit %d", r, exitSchema)
	}
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}
