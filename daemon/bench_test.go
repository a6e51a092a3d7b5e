package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/outreach/outreach/imapsync"
	"github.com/outreach/outreach/internal/dovecot"
	"github.com/outreach/outreach/store/storetest"
)

// benchInbox and benchSent are the mailbox sizes of BenchmarkInitialPass.
const benchInbox, benchSent = 3600, 400

// BenchmarkInitialPass times an initial pass of 4,000 messages from
// Dovecot into PostgreSQL (headers of all, skeletons and classification of
// the auto-replies and bounces, every batch stored with its cursor) next
// to a bare go-imap client fetching the same header fields of the same
// mailboxes in the same run, and reports the ratio: what the sync costs
// over the protocol's own cost, on this machine. Each iteration starts from
// an empty database.
//
//	go test -run '^$' -bench InitialPass -benchtime 1x ./daemon/
func BenchmarkInitialPass(b *testing.B) {
	ctx := context.Background()
	srv := dovecot.ForTest(b)
	if err := srv.Deliver("INBOX", benchMailbox(benchInbox, "in")...); err != nil {
		b.Fatal(err)
	}
	if err := srv.Deliver("Sent", benchMailbox(benchSent, "sent")...); err != nil {
		b.Fatal(err)
	}
	bareFetch(b, srv) // Dovecot builds its index and cache once, for both
	var pass, bare time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st := storetest.New(b, nil)
		acct := newAccount(b, st, srv.Host, srv.Port)
		b.StartTimer()
		start := time.Now()
		sum, err := (&Syncer{Store: st}).SyncOnce(ctx, acct)
		pass += time.Since(start)
		if err != nil || sum.Stored != benchInbox+benchSent {
			b.Fatalf("pass stored %d (%v), want %d", sum.Stored, err, benchInbox+benchSent)
		}
		start = time.Now()
		bareFetch(b, srv)
		bare += time.Since(start)
	}
	b.ReportMetric(float64(pass)/float64(bare), "pass/bare-fetch")
}

// benchMailbox is n messages: one in ten automatic (an out-of-office reply
// or a bounce, which get a skeleton and a classification), the rest mail
// from people who are not contacts (headers only).
func benchMailbox(n int, prefix string) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		id := fmt.Sprintf("%s-%d@example.net", prefix, i)
		switch {
		case i%20 == 0:
			out[i] = mail("mailer-daemon@mx.example.net", applicant, "Undelivered Mail Returned to Sender", id,
				"Auto-Submitted: auto-replied")
		case i%10 == 0:
			out[i] = mail("someone."+strconv.Itoa(i)+"@example.net", applicant, "Automatic reply: Research", id,
				"Auto-Submitted: auto-replied", "In-Reply-To: <orig-"+strconv.Itoa(i)+"@example.org>")
		default:
			out[i] = mail("someone."+strconv.Itoa(i)+"@example.net", applicant, "Re: Lab meeting", id,
				"In-Reply-To: <thread-"+strconv.Itoa(i/7)+"@example.net>")
		}
	}
	return out
}

// bareFetch is the baseline: log in, and for INBOX and Sent, SELECT and one
// UID FETCH 1:* of the fields the sync's first phase asks for, the
// literals read and discarded; then log out.
func bareFetch(b *testing.B, srv *dovecot.Server) {
	b.Helper()
	c, err := imapclient.DialInsecure(srv.Host+":"+strconv.Itoa(srv.Port), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(dovecot.User, dovecot.Password).Wait(); err != nil {
		b.Fatal(err)
	}
	opts := &imap.FetchOptions{UID: true, Flags: true, InternalDate: true, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader,
			HeaderFields: imapsync.HeaderFields, Peek: true}}}
	n := 0
	for _, mb := range []string{"INBOX", "Sent"} {
		if _, err := c.Select(mb, nil).Wait(); err != nil {
			b.Fatal(err)
		}
		cmd := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, opts)
		for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
			for item := msg.Next(); item != nil; item = msg.Next() {
				if body, ok := item.(imapclient.FetchItemDataBodySection); ok && body.Literal != nil {
					_, _ = io.Copy(io.Discard, body.Literal)
				}
			}
			n++
		}
		if err := cmd.Close(); err != nil {
			b.Fatal(err)
		}
	}
	if n != benchInbox+benchSent {
		b.Fatalf("bare fetch: %d messages, want %d", n, benchInbox+benchSent)
	}
	if err := c.Logout().Wait(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFirstFetch measures what the server spends the first time a
// client asks for header fields it has not cached: the same bare fetch of
// the first phase's fields, once after Dovecot's cache file is removed
// (it reads every message file again and caches the fields) and once right
// after (served from the cache), in the same run. The ratio explains most
// of the gap between an initial sync and ../shared/bench's protocol floor,
// which fetches fields it already asked for (its "cold" row is its first
// fetch).
//
//	go test -run '^$' -bench FirstFetch -benchtime 3x ./daemon/
func BenchmarkFirstFetch(b *testing.B) {
	srv := dovecot.ForTest(b)
	if err := srv.Deliver("INBOX", benchMailbox(benchInbox, "in")...); err != nil {
		b.Fatal(err)
	}
	if err := srv.Deliver("Sent", benchMailbox(benchSent, "sent")...); err != nil {
		b.Fatal(err)
	}
	bareFetch(b, srv) // the index, built once
	var cold, warm time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, mb := range []string{"INBOX", "Sent"} {
			if err := os.Remove(filepath.Join(srv.MailDir(), mb, "dovecot.index.cache")); err != nil {
				b.Fatal(err)
			}
		}
		start := time.Now()
		bareFetch(b, srv)
		cold += time.Since(start)
		start = time.Now()
		bareFetch(b, srv)
		warm += time.Since(start)
	}
	b.ReportMetric(float64(cold)/float64(warm), "uncached/cached")
}
