package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/outreach/outreach/internal/dovecot"
	"github.com/outreach/outreach/store/storetest"
)

func TestDovecotInitialIncrementalAndUIDValidityReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := dovecot.ForTest(t)
	st := storetest.New(t, nil)
	acct := newAccount(t, st, srv.Host, srv.Port)
	if err := srv.Deliver("INBOX", replies(1200, "a")...); err != nil {
		t.Fatal(err)
	}
	if err := srv.Deliver("Sent", mail(applicant, professor, "Research opportunity", "orig@example.org")); err != nil {
		t.Fatal(err)
	}
	s := &Syncer{Store: st, BatchSize: 500}

	sum, err := s.SyncOnce(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Stored != 1201 {
		t.Fatalf("initial sync stored %d, want 1201", sum.Stored)
	}
	if n := rowCount(t, st, "b.name = 'INBOX' AND m.kind = 'human' AND m.raw IS NOT NULL"); n != 1200 {
		t.Fatalf("%d INBOX replies classified human with their text, want 1200", n)
	}
	if n := rowCount(t, st, "b.role = 'sent' AND m.direction = 'out'"); n != 1 {
		t.Fatalf("%d outbound rows in Sent, want 1", n)
	}

	if err := srv.Deliver("INBOX", replies(7, "b")...); err != nil {
		t.Fatal(err)
	}
	if sum, err = s.SyncOnce(ctx, acct); err != nil || sum.Stored != 7 {
		t.Fatalf("incremental: stored %d (%v), want 7", sum.Stored, err)
	}
	if sum, err = s.SyncOnce(ctx, acct); err != nil || sum.Stored != 0 {
		t.Fatalf("no change: stored %d (%v), want 0", sum.Stored, err)
	}

	srv.Kill()
	if err := srv.ResetUIDValidity("INBOX", 4242); err != nil {
		t.Fatal(err)
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	acct.IMAP.Port = srv.Port
	if sum, err = s.SyncOnce(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if !sum.Mailboxes[0].Reset {
		t.Fatalf("no rescan after the UIDVALIDITY change: %+v", sum)
	}
	if n := rowCount(t, st, "b.name = 'INBOX'"); n != 1207 {
		t.Fatalf("%d INBOX rows after the rescan, want 1207: nothing duplicated", n)
	}
	if n := rowCount(t, st, "b.name = 'INBOX' AND m.uidvalidity = 4242 AND m.expunged_at IS NULL"); n != 1207 {
		t.Fatalf("%d rows moved to the new UIDVALIDITY, want 1207", n)
	}
}

// The server dies in the middle of an initial sync; after a restart, the
// next pass ends with every message stored exactly once.
func TestDovecotKilledMidSyncResumesWithoutGapOrDuplicate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := dovecot.ForTest(t)
	st := storetest.New(t, nil)
	acct := newAccount(t, st, srv.Host, srv.Port)
	const n = 3000
	if err := srv.Deliver("INBOX", replies(n, "k")...); err != nil {
		t.Fatal(err)
	}
	batches := 0
	s := &Syncer{Store: st, BatchSize: 400, Progress: func(Progress) {
		if batches++; batches == 3 {
			srv.Kill()
		}
	}}
	if _, err := s.SyncOnce(ctx, acct); err == nil {
		t.Fatal("the pass succeeded although the server died under it")
	}
	stored := rowCount(t, st, "true")
	if stored == 0 || stored >= n {
		t.Fatalf("%d stored before the crash; want a partial sync", stored)
	}
	status, err := st.Status(ctx)
	if err != nil || status[0].State != "degraded" || status[0].LastError == "" {
		t.Fatalf("account after the failure: %+v %v; want degraded with a reason", status, err)
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	acct.IMAP.Port = srv.Port
	s.Progress = nil
	if _, err := s.SyncOnce(ctx, acct); err != nil {
		t.Fatal(err)
	}
	if got := rowCount(t, st, "true"); got != n {
		t.Fatalf("%d rows after resuming, want %d", got, n)
	}
	var distinct int
	if err := st.DB().Get(&distinct, `SELECT count(DISTINCT message_id) FROM messages`); err != nil || distinct != n {
		t.Fatalf("%d distinct Message-IDs (%v), want %d: no duplicate", distinct, err, n)
	}
	if status, _ := st.Status(ctx); status[0].State != "ok" {
		t.Fatalf("account still %s after a good pass", status[0].State)
	}
}

func TestDovecotLargeAndMalformedMessages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := dovecot.ForTest(t)
	st := storetest.New(t, nil)
	acct := newAccount(t, st, srv.Host, srv.Port)
	big := bigMessage(25 << 20)
	malformed := []byte("From: \"Unclosed <chen@med.example.edu\r\nSubject: =?bogus?Q?broken?=\r\nContent-Type: multipart/mixed; boundary=\"nope\"\r\n\r\n--nope\r\nno end\r\n")
	bounce, err := os.ReadFile("../../shared/corpus/bounce/flanker-zed.eml")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Deliver("INBOX", big, malformed, bounce); err != nil {
		t.Fatal(err)
	}
	if _, err := (&Syncer{Store: st}).SyncOnce(ctx, acct); err != nil {
		t.Fatal(err)
	}
	var size, rawLen int
	var raw []byte
	if err := st.DB().QueryRow(`SELECT size, length(raw), raw FROM messages WHERE subject = 'Poster and dataset'`).Scan(&size, &rawLen, &raw); err != nil {
		t.Fatal(err)
	}
	if size < 25<<20 || rawLen > 64<<10 || !strings.Contains(string(raw), "Please find the poster attached") {
		t.Fatalf("large message: size %d, skeleton %d bytes; want the 25 MB message stored with its text only", size, rawLen)
	}
	if n := rowCount(t, st, "m.parse_error <> '' AND length(m.raw_headers) > 0"); n < 1 {
		t.Fatal("the malformed message was not stored with its error and raw header")
	}
	var kind string
	if err := st.DB().Get(&kind, `SELECT kind FROM messages WHERE from_addr LIKE 'mailer-daemon%'`); err != nil || kind != "bounce" {
		t.Fatalf("bounce classified %q (%v)", kind, err)
	}
}

func bigMessage(size int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: Poster and dataset\r\nMessage-ID: <big@med.example.edu>\r\n", professor, applicant)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\nPlease find the poster attached.\r\n--b1\r\n")
	b.WriteString("Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	line := strings.Repeat("QUJD", 19) + "\r\n" // 76 characters a line
	for b.Len() < size {
		b.WriteString(line)
	}
	b.WriteString("--b1--\r\n")
	return []byte(b.String())
}

// New INBOX mail is seen through IDLE within 2 seconds.
func TestDovecotIdlePushesNewMail(t *testing.T) {
	t.Parallel()
	srv := dovecot.ForTest(t)
	st := storetest.New(t, nil)
	acct := newAccount(t, st, srv.Host, srv.Port)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	passes := make(chan PassSummary, 16)
	done := make(chan error, 1)
	go func() {
		done <- (&Syncer{Store: st}).Watch(ctx, acct, WatchOptions{Passed: func(p PassSummary) { passes <- p }})
	}()
	waitPass(t, passes, 10*time.Second, func(PassSummary) bool { return true }) // the first, full pass
	if err := srv.Deliver("INBOX", mail(professor, applicant, "Re: Research opportunity", "pushed@med.example.edu")); err != nil {
		t.Fatal(err)
	}
	waitPass(t, passes, 2*time.Second, func(p PassSummary) bool { return p.Stored == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Watch ended with %v, want context.Canceled", err)
	}
}

func waitPass(t *testing.T, passes <-chan PassSummary, within time.Duration, ok func(PassSummary) bool) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case p := <-passes:
			if ok(p) {
				return
			}
		case <-deadline:
			t.Fatalf("no matching pass within %v", within)
		}
	}
}
