package imapsync

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outreach/outreach/internal/dovecot"
	"github.com/outreach/outreach/internal/testcert"
)

// TestDovecotTLS: against a real server, implicit TLS and our own STARTTLS
// (done before go-imap's client exists, see guardConn) both log in and
// sync; a certificate the client does not trust is refused either way.
func TestDovecotTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cert := testcert.New(t, "dovecot test")
	srv, err := dovecot.StartWith(ctx, t.TempDir(), dovecot.Options{CertPEM: cert.CertPEM, KeyPEM: cert.KeyPEM})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	msg := "From: Prof <prof@uni.example.edu>\r\nTo: applicant@example.org\r\nSubject: over TLS\r\n" +
		"Message-ID: <tls@uni.example.edu>\r\n\r\nHello.\r\n"
	if err := srv.Deliver("INBOX", []byte(msg)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		security string
		port     int
	}{{"tls", srv.TLSPort}, {"starttls", srv.Port}} {
		t.Run(tt.security, func(t *testing.T) {
			a := Account{Host: srv.Host, Port: tt.port, Security: tt.security, Username: dovecot.User,
				Password: dovecot.Password, TLSConfig: cert.Client, CommandTimeout: 20 * time.Second}
			c, err := Dial(ctx, a)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			var col collector
			_, err = c.Sync(ctx, "INBOX", Cursor{}, SyncOptions{}, col.emit)
			if closeErr := c.Close(); closeErr != nil {
				t.Errorf("Close: %v", closeErr)
			}
			if err != nil {
				t.Fatalf("Sync: %v", err)
			}
			if got := col.uids(); !equalUIDs(got, []uint32{1}) ||
				col.batches[0].Messages[0].MessageID != "tls@uni.example.edu" {
				t.Fatalf("synced UIDs %v, want the one message", got)
			}

			a.TLSConfig = testcert.New(t, "someone else").Client
			if c, err := Dial(ctx, a); err == nil {
				c.Close()
				t.Fatal("Dial trusted a certificate it should not")
			} else if !strings.Contains(err.Error(), "certificate") {
				t.Errorf("untrusted certificate refused with %v", err)
			}
		})
	}
}

// TestDovecotSkeletonGuess: phase 2's guessed sections against a real
// server, which sends an empty string for a part that does not exist.
func TestDovecotSkeletonGuess(t *testing.T) {
	checkSkeletonGuess(t, func(t *testing.T, msgs ...[]byte) ([]*Message, *proxy) {
		srv := dovecot.ForTest(t)
		if err := srv.Deliver("INBOX", msgs...); err != nil {
			t.Fatal(err)
		}
		p := newProxy(t, net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port)))
		c := dialDovecot(t, "127.0.0.1", p.port)
		return syncAllRelevant(t, c, len(msgs)), p
	})
}

// dialDovecot logs in to a Dovecot of internal/dovecot, or a proxy to it,
// in plaintext, and closes the connection when the test ends.
func dialDovecot(t *testing.T, host string, port int) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), Account{Host: host, Port: port, Security: "none",
		Username: dovecot.User, Password: dovecot.Password, CommandTimeout: 20 * time.Second})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
